"""Errors a user can fix. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input from the user: the message names the file or argument and says what was expected."""


class DataError(UserError, ValueError):
    """A dataset file is missing, corrupt or inconsistent (message starts with the offending path)."""


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, corrupt or belongs to another model."""
