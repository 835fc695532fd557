"""Errors a user can fix. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input from the user: the message names the file or argument and says what was expected."""


class DataError(UserError, ValueError):
    """A dataset file is missing, corrupt or inconsistent (message starts with the offending path)."""


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, corrupt or belongs to another model."""


class OutputError(UserError, OSError):
    """An output path cannot be written (a folder under a file, read-only, no space left, ...).

    Also an ``OSError``, so code that already catches ``OSError`` around a write keeps working.
    """


class RunLockedError(UserError):
    """Another process is training into the same run folder."""
