"""Where derived model files live, and how they are written without ever being half-written."""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_root() -> Path:
    """``$DUB_CACHE_DIR``, else ``$XDG_CACHE_HOME/dub``, else ``~/.cache/dub``."""
    explicit = os.environ.get("DUB_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dub"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place only on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name starts with the final one, cut so that it stays within the 255 bytes a
    # file name may have however long the final name is (mkstemp adds 8 characters and a dot).
    stem = final.name.encode()[:120].decode(errors="ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=(suffix or final.suffix)[:16], dir=final.parent)
    tmp_path = Path(tmp)
    try:  # everything after mkstemp inside the try: a Ctrl-C here must not leave the file behind
        os.close(fd)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes it private; outputs are ordinary files
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus")


def is_recording(voice: str | Path) -> bool:
    """Whether a ``--voice`` value names a recording to approach rather than a voice or model."""
    return str(voice).lower().endswith(AUDIO_SUFFIXES)
