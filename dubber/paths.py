"""Where a command may write, checked before any work: a run should not fail at its end
for a path it could have refused at its start, and never writes over a file it reads."""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.errors import UserError


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same path once resolved, or a hard link."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): they cannot be one file
        return False


def check_folder(path: str | Path, option: str = "-o") -> None:
    """The folder ``path`` goes in exists and can be written to."""
    if Path(path).is_dir():  # found now, not when the finished dub is renamed onto it
        raise UserError(f"{option} {path} is a folder: give a file name in it, e.g. {Path(path) / 'out.mp4'}")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise UserError(f"output folder {folder} does not exist: create it or choose another {option}")
    if not os.access(folder, os.W_OK):
        raise UserError(f"output folder {folder} is not writable: choose another {option}")


def check_creatable(path: str | Path, option: str, folder: bool = False) -> None:
    """``path`` (a file, or with ``folder`` a folder) can be made: missing folders are
    created on the way, so the nearest one that exists must be a folder that can be
    written to (a ``--report`` under a file would otherwise fail after the whole dub)."""
    if not folder and Path(path).is_dir():
        raise UserError(f"{option} {path} is a folder: give a file name in it")
    nearest = Path(path).resolve() if folder else Path(path).resolve().parent
    while not nearest.exists():
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UserError(f"{option} {path}: {nearest} is a file, not a folder: choose another {option}")
    if not os.access(nearest, os.W_OK):
        raise UserError(f"{option} {path}: folder {nearest} is not writable: choose another {option}")


def check_not_inputs(writes: list[tuple], reads: list[tuple[str, Path | str | None]]) -> None:
    """No path written is a file read, nor another path written: a report over the input
    video, or the dubbed subtitles over the ``--srt`` file they came from, would destroy
    what the user gave. ``writes`` are ``(option, path)`` or ``(option, path, what)``: the
    option that decides the path (the fix is another value for it), and what is written
    there when the option names something else (the subtitles beside ``-o``)."""
    written: list[tuple[str, Path]] = []
    for option, path, *what in writes:
        if not path:
            continue
        writer = f"{option} ({what[0]})" if what else option
        for other, read in reads:
            if read and same_file(path, read):
                raise UserError(f"{writer} would write over {other} ({path}): choose another {option}")
        for other, earlier in written:
            if same_file(path, earlier):
                raise UserError(f"{writer} and {other} would both write {path}: choose another {option}")
        written.append((writer, Path(path)))
