"""Errors the command line turns into one clear line and exit code 2."""


class UsageError(Exception):
    """Bad input from the user: says what is wrong and what would be valid."""
