"""Sweeps: a grid (or a search) of ordinary runs over models, settings and seeds.

``spec`` says what is fixed and what varies, ``record`` keeps a sweep's one small
file (RUNS/.sweeps/ID/sweep.json), ``driver`` runs the members through an
executor (genbench.executor), ``results`` reads the members' run folders back and
reduces over seeds. Members are run folders like any other: everything that reads
runs keeps working. torch-free; neither training nor metrics is imported (members
are `genbench run` processes).
"""
