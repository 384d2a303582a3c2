"""Built-in backends; importing this package registers them."""

from . import espeak, kokoro, piper  # noqa: F401
from .base import Analysis, Backend, backend_names, get_backend, register

__all__ = ["Analysis", "Backend", "backend_names", "get_backend", "register"]
