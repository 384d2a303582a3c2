"""Keys for cached work: a stage's folder, or one item inside it (a dubbed line).

A cached file is named by a hash of everything it depends on, so an edited line is the
only one redone, and a stage never needs to know who runs it or where its folder is.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def stable_hash(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def item_path(root: Path, group: str, key: dict, suffix: str) -> Path:
    """A per-item cache file under ``root``, keyed so an edited item alone is redone."""
    return Path(root) / group / f"{stable_hash(group, key)}{suffix}"
