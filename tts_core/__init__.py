"""Duration-controlled text to speech: every line generated to the exact length of its slot."""

from . import backends  # noqa: F401  (registers the built-in backends)
from .api import EMOTIONS, TTS, Speech
from .errors import (
    EmptyTextError,
    ModelFileError,
    ToolMissingError,
    TTSError,
    UnknownBackendError,
    UnsupportedRequestError,
)

__all__ = [
    "EMOTIONS",
    "TTS",
    "Speech",
    "TTSError",
    "EmptyTextError",
    "ModelFileError",
    "ToolMissingError",
    "UnknownBackendError",
    "UnsupportedRequestError",
]
