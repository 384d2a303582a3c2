"""Built-in backends; importing this package registers them."""

from . import espeak, kokoro, piper  # noqa: F401
from .indextts2 import backend as _indextts2  # noqa: F401  (torch is imported on load only)
from .base import BACKENDS, Analysis, Backend, backend_names, default_backend, get_backend, register

__all__ = ["BACKENDS", "Analysis", "Backend", "backend_names", "default_backend", "get_backend", "register"]
