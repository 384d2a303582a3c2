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

# Bumped whenever the same request renders different audio (planner, graph surgery,
# prosody), so a caller's cache of rendered lines knows its files are stale.
RENDER_VERSION = "4"

__all__ = [
    "EMOTIONS",
    "RENDER_VERSION",
    "TTS",
    "Speech",
    "TTSError",
    "EmptyTextError",
    "ModelFileError",
    "ToolMissingError",
    "UnknownBackendError",
    "UnsupportedRequestError",
]
