"""What every command shares: progress on stderr, a library error turned into one line
and an exit code, and the number types of the flags."""

from __future__ import annotations

import errno
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import click

from pipelines.errors import DubError


class Reporter:
    """Progress on stderr: a line per stage and a bar for long work (silenced by --quiet).

    Stages may run at the same time (diarization beside translation), each in its own
    thread: a stage's bars are its thread's, and only they go when it is done."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._progress = None
        self._cached: dict[str, bool] = {}
        self._bars: dict[int, list] = {}  # thread -> the ids of the bars it made
        self._lock = threading.Lock()
        if not quiet:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.console = Console(stderr=True)
            self._progress = Progress(TextColumn("  {task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                      TimeElapsedColumn(), console=self.console, transient=True)

    def stage(self, name: str, cached: bool) -> None:
        self._cached[name] = cached

    def done(self, name: str, seconds: float) -> None:
        if self.quiet:
            return
        with self._lock:
            for task_id in self._bars.pop(threading.get_ident(), []):
                self._progress.remove_task(task_id)
            if self._progress.live.is_started and not self._progress.tasks:
                self._progress.stop()
        note = "cached" if self._cached.get(name) else f"{seconds:.1f}s"
        self.console.print(f"[green]✓[/] {name:<11} {note}")

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self.quiet:
            return lambda n=1: None
        with self._lock:
            if not self._progress.live.is_started:
                self._progress.start()
            task_id = self._progress.add_task(description, total=total)
            self._bars.setdefault(threading.get_ident(), []).append(task_id)

        def tick(n: int = 1) -> None:
            try:
                self._progress.advance(task_id, n)
            except KeyError:  # its stage is done and its bar gone (a tick after the end)
                pass

        return tick


# Errors of the file system the user can fix (a read-only folder, a full disk), whichever
# path they hit: a folder checked up front can still fill up or be remounted mid-run.
_USER_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR}


def _log(exc: BaseException) -> Path:
    import tempfile
    import traceback

    log = Path(tempfile.gettempdir()) / f"dub-error-{int(time.time())}.log"
    log.write_text("".join(traceback.format_exception(exc)))
    return log


def quiet_exit(code: int) -> None:
    """Exit after Ctrl-C without the finalizers' noise: the interrupt can land inside any
    constructor (``wave.open`` half-built), whose ``__del__`` then fails as the traceback is
    freed, printing "Exception ignored in ..." under the one-line hint."""
    sys.unraisablehook = lambda unraisable: None
    sys.exit(code)


def fail(exc: BaseException, debug: bool) -> None:
    if debug:
        raise exc
    from tts_core.errors import TTSError

    if isinstance(exc, DubError):
        if exc.exit_code == 2:
            click.echo(f"dub: error: {exc}", err=True)
        else:  # a stage or model failure is ours to look into: keep the traceback for the bug report
            click.echo(f"dub: error: {exc} (details in {_log(exc)})", err=True)
        sys.exit(exc.exit_code)
    if isinstance(exc, TTSError):
        click.echo(f"dub: error: {exc}", err=True)
        sys.exit(2)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("dub: interrupted; rerun the same command to resume", err=True)
        quiet_exit(130)
    if isinstance(exc, OSError) and exc.errno in _USER_OS_ERRORS:
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"dub: error: {exc.strerror}{where}: free some space or choose a folder you can write to "
                   "(-o, --work-dir)", err=True)
        sys.exit(2)
    click.echo(f"dub: internal error: {type(exc).__name__}: {exc} (details in {_log(exc)})", err=True)
    sys.exit(1)


def debug_on(flag: bool) -> bool:
    return flag or os.environ.get("DUB_DEBUG", "") not in ("", "0")


def note_slow_on_cpu(backend: str, device: str, quiet: bool) -> None:
    """Say so before a long wait: a backend that declares its CPU speed, run on a CPU."""
    from tts_core.backends import backend_names, get_backend

    if quiet or device != "cpu" or backend not in backend_names():
        return
    speed = get_backend(backend).cpu_speed
    if speed:
        click.echo(f"note: {backend} on a CPU is slow ({speed}); --device cuda runs it on a GPU", err=True)


def show_notes(quiet: bool) -> None:
    """What the libraries log as a warning (a model they fell back from) is one ``note:`` line
    on stderr; --quiet silences it."""
    import logging

    for name in ("tts_core", "pipelines"):
        logger = logging.getLogger(name)
        if quiet:
            logger.setLevel(logging.ERROR)
        elif not any(getattr(h, "_dub_note", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("note: %(message)s"))
            handler._dub_note = True
            logger.addHandler(handler)
            logger.propagate = False


def run(job: Callable[[], object], debug: bool):
    """Run a command's work; errors become one line (``fail`` exits). Returns (result, seconds)."""
    started = time.perf_counter()
    try:
        result = job()
    except (Exception, KeyboardInterrupt) as exc:
        fail(exc, debug_on(debug))
    return result, time.perf_counter() - started


class Finite(click.types.FloatParamType):
    """A float that is a number, within [low, high]: click's float takes "nan" and "inf",
    which no length, level or gain can be (and its FloatRange lets "nan" through)."""

    name = "number"

    def __init__(self, low: float = -math.inf, high: float = math.inf):
        self.low, self.high = low, high

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if not self.low <= number <= self.high:
            span = f"at least {self.low:g}" if self.high == math.inf else f"between {self.low:g} and {self.high:g}"
            self.fail(f"{number:g} is out of range: give a number {span}", param, ctx)
        return number


FINITE = Finite()
SECONDS = Finite(low=0)
LUFS = Finite(low=-70, high=0)  # -70 LUFS is the meter's silence gate; loudness is never above 0


class Device(click.ParamType):
    """cpu, cuda or cuda:N. A GPU asked for where there is none is said, then the CPU runs."""

    name = "device"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        if text == "cpu" or text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
            return text
        self.fail(f"{value!r} is not a device: use cpu, cuda or cuda:N", param, ctx)


DEVICE = Device()


def note_missing_gpu(device: str, quiet: bool) -> None:
    """Say so when --device cuda finds no GPU: the models fall back to the CPU, much slower."""
    if quiet or not device.startswith("cuda"):
        return
    try:
        import ctranslate2

        count = ctranslate2.get_cuda_device_count()
    except (ImportError, RuntimeError):
        count = 0
    if count == 0:
        click.echo(f"dub: note: --device {device}, but no CUDA GPU is usable here: running on the CPU", err=True)
