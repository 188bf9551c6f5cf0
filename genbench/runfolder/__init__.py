"""The run folder: the only interface between a trainer and whatever reads its
runs (the workbench, `runs`, `show`, `eval`). Every file in it is untrusted input."""
