"""Errors and warnings the CLI turns into one line on stderr (design §11).

`UsageError` is exit 2 (bad input: a config typo, an unknown endpoint, a corrupt manifest).
Lower layers never print: a problem worth telling but not fatal (a record line that does not
parse) is a `RecordsWarning`, which the CLI prints as one line.
"""

import re


class UsageError(Exception):
    """Bad input from the user: a config typo, an unknown endpoint, an unreachable URL.

    The message is printed as it is, on one line, so it must name what is wrong and where.
    """


class RecordsWarning(UserWarning):
    """A stored file held something unreadable that was skipped (its items are sent again)."""


class EndpointWarning(UserWarning):
    """An endpoint whose answer to /models does not name the configured model: many servers list
    other names than they accept (Azure's deployments, Ollama's tags), so it is said, not refused."""


NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def check_name(value: str, what: str) -> str:
    """A name that becomes one path component: letters, digits, `-_.`; never `.`, `..` or empty.

    Baseline, endpoint and run names are joined to folders the tool writes (and a baseline
    save replaces); a name with a separator, or `..`, would reach outside them.
    """
    if not NAME.fullmatch(value or "") or value in (".", ".."):
        raise UsageError(f"{what} {value!r} is not a simple name: use letters, digits, '-', '_' and '.', not '.' or '..' and no '/'")
    return value


class OutputError(Exception):
    """An output the user asked for could not be written (`--junit`, `--out`, the step summary).

    Not a verdict and not bad input: exit 4, one line naming the flag and the path.
    """


class EngineError(Exception):
    """An engine that runs a task for us (tau2-bench, inspect) failed or left an unfinished log.

    Not bad input and not a verdict: exit 4, one line naming the engine, what it said, and
    where its own log is.
    """
