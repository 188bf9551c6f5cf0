"""Samples out of genbench: images as bytes, written to disk as a stream (a folder of
PNGs, an .npz), and latent walks (slerp paths, their frames as a grid PNG or a GIF).

No model here: ``genbench.trained`` draws the images; this package turns them into
files. ``genbench sample`` and the workbench's generate view share it.
"""
