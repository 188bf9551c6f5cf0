"""The training loop and what it needs: device, checkpoints, signals, samples.

Importing this package imports torch; the CLI imports it only for commands that train.
"""
