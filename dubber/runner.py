"""Stage cache and timing.

A stage's output folder is named by a hash of everything it depends on (its inputs' keys,
its options and its version), so a rerun with the same inputs finds it, and changing one
thing redoes only the stages downstream of it. A stage writes into a private temporary
folder that is renamed into place when it has finished: an interrupted run never leaves a
folder that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from pipelines.cache import item_path, stable_hash
from pipelines.records import to_json
from pipelines.stage import Job, Stage

from . import resident

RESULT = "result.json"
# A killed run's temporary stage folder is removed once it is this old (no stage runs for a
# day; a younger one may belong to a run still going in another process).
STALE_SECONDS = 24 * 3600


class Progress(Protocol):
    """What the runner tells whoever is watching (the CLI draws it; tests may record it)."""

    def stage(self, name: str, cached: bool) -> None: ...

    def done(self, name: str, seconds: float) -> None: ...

    def task(self, description: str, total: int) -> Callable[[int], None]: ...


class SilentProgress:
    def stage(self, name: str, cached: bool) -> None:
        pass

    def done(self, name: str, seconds: float) -> None:
        pass

    def task(self, description: str, total: int) -> Callable[[int], None]:
        return lambda n=1: None


def warm_ahead(stages: list[Stage]) -> threading.Thread:
    """Warm ``stages`` (``Stage.warm``: their libraries and models) one after the other in a
    daemon thread, and return it. A stage that fails to warm says why when it runs."""

    def work() -> None:
        for stage in stages:
            try:
                stage.warm()
            except Exception:  # noqa: BLE001 - reported by the stage's own run, with its own message
                pass

    thread = threading.Thread(target=work, name="warm-ahead", daemon=True)
    thread.start()
    return thread


class Background:
    """``call()`` in a thread; ``result`` waits for it and raises what it raised, in the
    caller's thread. Not a daemon: a run that fails meanwhile waits for it to end before the
    process exits, since a library torn down at exit under a thread still loading a model
    aborts the process (onnxruntime did, in a dub refused for its subtitles)."""

    def __init__(self, call: Callable[[], object], name: str):
        self._value: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=name)
        self._thread.start()

    def _run(self, call: Callable[[], object]) -> None:
        try:
            self._value = call()
        except BaseException as exc:  # raised by result(), in the thread that asks
            self._error = exc

    def result(self) -> object:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


@dataclass
class Workspace:
    """The work folder of one or many runs; stages share it through their cache keys."""

    root: Path
    progress: Progress = field(default_factory=SilentProgress)
    timings: dict[str, float] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)
    _making: set[Path] = field(default_factory=set, repr=False)  # temporary folders of stages running now

    def run(self, name: str, version: str, key: dict, work: Callable[[Path], dict]) -> tuple[Path, dict]:
        """Return (folder, result) of stage ``name``; run ``work(tmp_folder)`` on a miss.

        ``work`` writes its files into the folder it is given and returns a JSON-able
        record (paths inside it relative to the folder).
        """
        digest = stable_hash(name, version, key)
        final = self.root / name / digest
        start = time.perf_counter()
        result = _read_result(final)
        if result is not None:
            self.progress.stage(name, cached=True)
            self.cached[name] = True
        else:
            self.progress.stage(name, cached=False)
            if final.exists():  # a folder whose record is unreadable (a crash before it reached the disk)
                shutil.rmtree(final, ignore_errors=True)
            _remove_stale(self.root / name)
            resident.give_back()  # what the stages before freed, returned before this one allocates
            tmp = self.root / name / f".tmp-{digest}-{uuid.uuid4().hex[:8]}"
            try:  # made inside the try: a Ctrl-C just after mkdir must not leave it behind
                self._making.add(tmp)
                tmp.mkdir(parents=True)
                result = work(tmp)
                (tmp / RESULT).write_text(json.dumps(result, indent=1))
                try:
                    os.replace(tmp, final)
                except OSError:
                    # Another run finished the same stage first; its output is as good. Go on
                    # with its record, so what follows matches the folder everyone reads.
                    if not (final / RESULT).is_file():
                        raise
                    result = json.loads((final / RESULT).read_text())
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
                self._making.discard(tmp)
            self.cached[name] = False
        seconds = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        self.progress.done(name, seconds)
        return final, result

    def run_together(self, stages: list[Stage], job: Job, then: Callable[[Job], None] | None = None) -> Job:
        """Run stages that read only what ``job`` holds already (none reads another's output)
        at the same time: the first here, the others in daemon threads (a Ctrl-C or an error
        does not wait for them); the job with all their records, or the first stage's error.
        ``then(job with the first stage's record)`` runs here once that stage is done, while
        the others may still be running (a failure in it is left for a later stage to meet)."""
        results: dict[int, Job] = {}
        errors: dict[int, BaseException] = {}

        def work(i: int) -> None:
            try:
                results[i] = self.run_stage(stages[i], job)
            except BaseException as exc:  # raised below, in the caller's thread
                errors[i] = exc

        threads = [threading.Thread(target=work, args=(i,), name=f"stage-{stages[i].name}", daemon=True)
                   for i in range(1, len(stages))]
        try:
            for thread in threads:
                thread.start()
            work(0)
            if 0 not in errors and then is not None:
                try:
                    then(stages[0].done(job, getattr(results[0], stages[0].output)))
                except Exception:  # noqa: BLE001 - the stage that needs it redoes it and says why
                    pass
            if 0 not in errors:
                for thread in threads:
                    thread.join()
            if errors:
                raise errors[min(errors)]
        except BaseException:
            # The run stops here (an error, Ctrl-C) and the threads die with the process: their
            # half-made folders go now, as a stage's own do when it fails.
            for tmp in list(self._making):
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        for i, stage in enumerate(stages):
            job = stage.done(job, getattr(results[i], stage.output))
        return job

    def is_cached(self, stage: Stage, job: Job) -> bool:
        """Whether ``stage``'s output for ``job`` is in the cache already."""
        key = to_json(stage.cache_key(job), self.root)
        return _read_result(self.root / stage.name / stable_hash(stage.name, stage.version, key)) is not None

    def run_stage(self, stage: Stage, job: Job) -> Job:
        """Run ``stage`` on ``job`` (or find its output in the cache); the job with its record.
        Paths in the key are taken relative to the work folder, which can then be moved."""
        kind = Job.NESTED[stage.output]
        key = to_json(stage.cache_key(job), self.root)
        folder, result = self.run(stage.name, stage.version, key,
                                  lambda tmp: stage.run(job, tmp, self.progress.task).to_dict(tmp))
        return stage.done(job, kind.from_dict(result, folder))

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time and report work that is not cached (writing the output file)."""
        self.progress.stage(name, cached=False)
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        self.progress.done(name, seconds)

    def item_path(self, group: str, key: dict, suffix: str) -> Path:
        """A per-item cache file (one dubbed line), keyed so an edited line alone is redone."""
        return item_path(self.root, group, key, suffix)


def _read_result(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RESULT).read_text())
    except (OSError, ValueError):
        return None


def _remove_stale(stage_folder: Path) -> None:
    """Delete killed runs' ``.tmp-*`` folders older than ``STALE_SECONDS`` (each as big as
    the stage's output: a long film's WAVs)."""
    now = time.time()
    for tmp in stage_folder.glob(".tmp-*"):
        try:
            if now - tmp.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass  # another run removed it first
