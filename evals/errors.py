"""Errors the CLI turns into one line on stderr and exit code 2 (usage or configuration)."""


class UsageError(Exception):
    """Bad input from the user: a config typo, an unknown endpoint, an unreachable URL.

    The message is printed as it is, on one line, so it must name what is wrong and where.
    """
