"""tts_core.files.join_parts: a model that ships in parts, joined once and checked."""

import hashlib
import os

import pytest

from tts_core.files import join_parts


def test_parts_are_joined_once_checked_and_never_half_written(tmp_path):
    parts = [tmp_path / "a.part", tmp_path / "b.part"]
    parts[0].write_bytes(b"first half, ")
    parts[1].write_bytes(b"second half")
    digest = hashlib.sha256(b"first half, second half").hexdigest()
    target, stamp = tmp_path / "cache" / "model.bin", tmp_path / "cache" / "model.verified.json"
    assert join_parts(parts, target, digest, stamp, ValueError) is True
    assert target.read_bytes() == b"first half, second half" and stamp.is_file()
    assert join_parts(parts, target, digest, stamp, ValueError) is False  # the stamp spares the hash
    os.utime(target, ns=(1, 1))  # touched since it was checked: joined and checked again
    assert join_parts(parts, target, digest, stamp, ValueError) is True

    other = tmp_path / "other" / "model.bin"
    with pytest.raises(ValueError, match="^[0-9a-f]{64}$"):
        join_parts(parts[:1], other, digest, other.with_suffix(".json"), ValueError)
    assert list(other.parent.iterdir()) == []  # no partial file, no stamp
