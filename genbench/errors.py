"""Errors the command line turns into one clear line and exit code 2, and the one
way an exception is written as a line of a message."""


class UsageError(Exception):
    """Bad input from the user: says what is wrong and what would be valid."""


def one_line(exc: BaseException, *, with_type: bool = True) -> str:
    """An exception as one line: ``Type: first line of its message`` (just ``Type``
    when the message is empty). ``with_type=False``: the first line alone, or the
    type's name when the message is empty."""
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    if not lines:
        return name
    return f"{name}: {lines[0]}" if with_type else lines[0]
