"""Typed errors of the TTS core. Callers (the CLI) turn them into messages."""


class TTSError(Exception):
    """Base class of every error the TTS core raises on purpose."""


class UnknownBackendError(TTSError):
    """A backend or voice name that is neither registered nor a local file."""


class EmptyTextError(TTSError):
    """Text with nothing speakable in it."""


class UnsupportedRequestError(TTSError):
    """A request the backend cannot honour (a language, voice reference or target length)."""


class ToolMissingError(TTSError):
    """An external program the backend runs (espeak-ng) is not installed."""


class ModelFileError(TTSError):
    """Weights that are missing, corrupt or fail their checksum."""


class DownloadError(ModelFileError):
    """A model file that could not be fetched whole and checked; its message is one line."""


class OfflineError(DownloadError):
    """The file's host cannot be reached, or offline mode forbids asking it."""
