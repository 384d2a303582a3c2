"""Typed errors. Library code raises them; only the CLI turns them into one-line messages.

A ``UserError`` is something the user can fix (exit code 2); anything else is a bug or an
environment failure (exit code 1).
"""


class DubError(Exception):
    """Base class of the errors dub raises on purpose."""

    exit_code = 1


class UserError(DubError):
    """Bad input or arguments: the message says what is wrong and how to fix it."""

    exit_code = 2


class InputError(UserError):
    """A missing, unreadable or unsuitable input file."""


class UnknownLanguageError(UserError):
    """A language code that no configured backend handles."""


class ToolMissingError(UserError):
    """A required external program (ffmpeg, ffprobe, espeak-ng) is not installed."""


class BackendError(UserError):
    """An unknown backend name, or a backend asked for something it cannot do."""


class ModelError(DubError):
    """Model weights that are missing, corrupt or fail their checksum."""


class ModelMissingError(UserError):
    """A model the run needs is not installed and cannot be downloaded now (the user pulls it)."""


class StageError(DubError):
    """A pipeline stage failed; the message names the stage and the cause."""
