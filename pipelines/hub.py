"""Whether the Hugging Face Hub answers, asked with one short connection.

Loading by name, the hub's client retries an unreachable hub for about 30 s before it
falls back to its cache; a 3 s probe first lets cached weights load at once offline. The
translators want a yes or no (``reachable``); the separators switch huggingface_hub
offline around a load (``offline_unless_reachable``). Both honour HF_ENDPOINT and the
HTTPS / ALL proxy variables; ``reachable`` also honours HF_HUB_OFFLINE.
"""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.parse
from typing import Iterator

from tts_core.download import hub_endpoint, offline

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def reachable(timeout: float = 3.0) -> bool:
    """False when DUB_OFFLINE or HF_HUB_OFFLINE asks for offline, or the hub does not answer
    in ``timeout`` s."""
    if offline():
        return False
    return _answers(timeout)


@contextlib.contextmanager
def offline_unless_reachable(timeout: float = 3.0) -> Iterator[None]:
    """Set huggingface_hub offline inside the block when the hub does not answer; restore it after."""
    try:
        from huggingface_hub import constants
    except ImportError:  # nothing to switch: the caller loads without the hub's client
        yield
        return
    saved = constants.HF_HUB_OFFLINE  # huggingface_hub's own reading of HF_HUB_OFFLINE
    if not saved and not _answers(timeout):
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def _answers(timeout: float) -> bool:
    """Whether a connection to the hub's host opens; through a proxy, assume so (the client
    goes through it and no direct connection would tell)."""
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return True
    host = urllib.parse.urlparse(hub_endpoint()).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True
