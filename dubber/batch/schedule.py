"""The order a batch's jobs run in: stage by stage over every job (so each worker holds
one stage's models at a time), or each job from start to end."""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable

from .job import Job, JobResult, one_line
from .manifest import order_jobs
from .workers import InProcess, ProcessPool, RayActors, WorkerLost


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C: the batch stopped; ``results`` holds the jobs that had finished."""

    def __init__(self, results: list[dict]):
        super().__init__("interrupted")
        self.results = results


ORDERS = ("stage", "file")


def run_batch(jobs: list[Job], *, workers: int = 1, ray: bool = False, ray_address: str | None = None,
              pool: bool | None = None, order: str = "stage", on_result: Callable[[dict], None] | None = None,
              on_stage: Callable[[str, int], None] | None = None) -> list[dict]:
    """Run every job; return their results (dicts of :class:`JobResult`) in job order.

    ``order="stage"`` runs one stage over every job before the next stage starts, and each
    worker releases the models of the finished stage first (so the ASR and TTS models are
    never resident together); ``order="file"`` runs each job from start to end and keeps
    every model loaded. ``workers`` > 1 (or ``pool=True``) runs a spawn process pool;
    ``ray=True`` runs Ray actors (``workers`` of them, or as many as the cluster's CPUs
    allow). In the stages all languages of an input share, its first job runs before the
    others are scheduled, so those find them cached. Raises :class:`BatchInterrupted` on
    Ctrl-C.
    """
    from ..dub import STAGES

    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    jobs = order_jobs(jobs)
    if ray:
        backend = RayActors(ray_address, workers if workers and workers > 0 else None, len(jobs))
    elif pool or (pool is None and workers > 1):
        backend = ProcessPool(max(1, min(workers, len(jobs))))
    else:
        backend = InProcess()
    index = {id(job): i for i, job in enumerate(jobs)}
    results: list[dict | None] = [None] * len(jobs)
    prior: dict[int, dict] = {}
    interrupted = False
    try:
        live = jobs
        for stage in (STAGES if order == "stage" else (None,)):
            if not live:
                break
            if on_stage and stage:
                on_stage(stage, len(live))
            shared = stage is None or STAGES.index(stage) <= STAGES.index("diarize")
            staged = set()
            for job, result in _run_stage(backend, live, stage, prior, shared):
                if result["status"] == "staged":
                    prior[id(job)] = result
                    staged.add(id(job))
                    continue
                results[index[id(job)]] = result
                if on_result:
                    on_result(result)
            live = [job for job in live if id(job) in staged]
    except KeyboardInterrupt:
        interrupted = True
        raise BatchInterrupted([r for r in results if r is not None]) from None
    finally:
        backend.close(interrupted)
    return [r for r in results if r is not None]


def _run_stage(backend, jobs: list[Job], until: str | None, prior: dict[int, dict], shared: bool):
    """Yield (job, result) as the jobs finish ``until`` (or their whole dub when None).

    ``shared``: the stage's output is the same for every language of an input, so the
    first job of each input runs alone and its other languages follow once it is cached
    (two workers never do the same work at once)."""
    followers: dict[str, deque] = {}
    ready: deque[Job] = deque()
    for job in jobs:
        key = os.path.abspath(job.input)
        if shared and key in followers:
            followers[key].append(job)
        else:
            followers.setdefault(key, deque())
            ready.append(job)
    running: dict[Any, Job] = {}
    while ready or running:
        while ready and len(running) < backend.slots:
            job = ready.popleft()
            running[_Handle(backend.submit(job, until, prior.get(id(job))))] = job
        for handle in backend.wait([h.value for h in running]):
            wrapper = next(h for h in running if h.value is handle)
            job = running.pop(wrapper)
            try:
                result = backend.result(handle)
            except WorkerLost as exc:
                result = JobResult(job.input, job.lang, job.output, "failed", 0.0, f"worker lost: {exc}").to_dict()
            except Exception as exc:  # a worker process that died (out of memory...)
                result = JobResult(job.input, job.lang, job.output, "failed", 0.0,
                                   f"worker lost: {one_line(exc)}").to_dict()
            yield job, result
            ready.extendleft(reversed(followers.pop(os.path.abspath(job.input), deque())))


class _Handle:
    """Hashable by identity around a backend handle (an inline result is a plain dict)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value
