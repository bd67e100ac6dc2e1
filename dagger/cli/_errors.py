"""The error every ``dagger`` command reports as one line."""

from __future__ import annotations


class CommandError(Exception):
    """A problem reported to the user as one line, exit status 2."""
