"""genbench's built-in models (the folder is the import name: ``genbench_plugins``).

Each module is a plugin registered through the ``genbench`` entry-point group and
imports only genbench's public API, exactly as a third-party plugin would.
"""
