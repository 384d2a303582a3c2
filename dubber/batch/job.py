"""One job of a batch, run in whichever process the scheduler gives it.

A job never raises: its failure is a result, so one corrupt file among hundreds is a
line in the summary. Its report is written last, and that report's fingerprint is what a
rerun trusts to skip it.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tts_core.files import write_text_atomic

from pipelines.errors import DubError, UserError


@dataclass(frozen=True)
class Job:
    """One (input, language) dub. Plain data, so it pickles to a process or a Ray actor."""

    input: str
    lang: str
    output: str
    report: str
    options: dict = field(default_factory=dict)  # per-file option columns, already converted
    work_dir: str | None = None
    where: str = ""  # "jobs.csv line 3", for messages

    def to_dict(self) -> dict:
        return {"input": self.input, "lang": self.lang, "output": self.output, "report": self.report,
                "options": dict(self.options), "work_dir": self.work_dir, "where": self.where}

    def dub_options(self):
        """The job's options, assembled as the command line assembles its flags."""
        from ..options import dub_options

        return dub_options(self.input, self.output, self.lang, work_dir=self.work_dir, **self.options)


@dataclass
class JobResult:
    input: str
    lang: str
    output: str
    status: str  # done | skipped | failed; staged between the stages of a stage-major batch
    seconds: float
    reason: str = ""
    duration: float = 0.0  # media seconds dubbed (from the report)
    stages: dict = field(default_factory=dict)  # stage -> seconds
    cached: dict = field(default_factory=dict)  # stage -> was it cached
    worker: int = 0  # pid of the process that ran it

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def fingerprint(job: Job) -> dict:
    """What makes a finished job still valid: the input file as it was, and the options."""
    from pipelines.cache import stable_hash

    try:
        st = os.stat(job.input)
        stat = [st.st_size, st.st_mtime_ns]
    except OSError:
        stat = None
    return {"input_stat": stat, "options": stable_hash(job.lang, job.output, sorted(job.options.items()))}


def finished(job: Job) -> dict | None:
    """The report of a job that completed earlier with the same input and options, else None."""
    if not Path(job.output).is_file():
        return None
    try:
        report = json.loads(Path(job.report).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    batch = report.get("batch") if isinstance(report, dict) else None
    if not isinstance(batch, dict) or batch.get("status") != "done" or batch.get("fingerprint") != fingerprint(job):
        return None
    return report


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, DubError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:300]


def merge_stages(prior: dict, stages: dict, cached: dict) -> tuple[dict, dict]:
    """Stage timings of a job run in phases: a stage keeps the time of the phase that did
    its work, not of the later phases that only found it in the cache."""
    times, hits = dict(prior.get("stages", {})), dict(prior.get("cached", {}))
    for stage, seconds in stages.items():
        if stage not in times or not cached.get(stage, False):
            times[stage], hits[stage] = seconds, cached.get(stage, False)
    return times, hits


def run_job(job: Job | dict, until: str | None = None, prior: dict | None = None) -> dict:
    """Dub one job; never raises (except KeyboardInterrupt). Returns a JobResult as a dict.

    With ``until`` (a stage of :data:`dubber.dub.STAGES`) the job runs up to that stage,
    after releasing the models that stage does not use, and comes back ``staged``;
    ``prior`` is the result of its previous phase, so seconds and stage times add up.
    """
    if isinstance(job, dict):
        job = Job(**job)
    prior = prior or {}
    started = time.perf_counter() - float(prior.get("seconds", 0.0))
    base = dict(input=job.input, lang=job.lang, output=job.output, worker=os.getpid())
    done = finished(job) if not prior else None
    if done is not None:
        return JobResult(**base, status="skipped", seconds=time.perf_counter() - started, reason="done earlier",
                         duration=float(done.get("duration") or 0.0), stages=done.get("stages", {}),
                         cached=done.get("cached", {})).to_dict()
    import logging

    from ..dub import dub_video

    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    if until is not None:
        from ..resident import release_for

        release_for(until)
    stamp = fingerprint(job)
    try:
        Path(job.output).resolve().parent.mkdir(parents=True, exist_ok=True)
        report = dub_video(job.dub_options(), until=until)
    except Exception as exc:  # one job's failure is recorded; the batch goes on
        seconds = time.perf_counter() - started
        reason = one_line(exc)
        _write_report(job, {"input": job.input, "output": job.output, "lang": job.lang, "batch": {
            "status": "failed", "reason": reason, "seconds": round(seconds, 3), "where": job.where,
            "fingerprint": stamp, "traceback": None if isinstance(exc, UserError) else traceback.format_exc()}})
        return JobResult(**base, status="failed", seconds=seconds, reason=reason).to_dict()
    seconds = time.perf_counter() - started
    stages, cached = merge_stages(prior, report["stages"], report["cached"])
    if "until" in report:
        return JobResult(**base, status="staged", seconds=seconds, stages=stages, cached=cached).to_dict()
    report["stages"], report["cached"] = {k: round(v, 3) for k, v in stages.items()}, cached
    report["batch"] = {"status": "done", "seconds": round(seconds, 3), "where": job.where, "fingerprint": stamp}
    _write_report(job, report)  # last: its "done" is what a rerun trusts
    return JobResult(**base, status="done", seconds=seconds, duration=float(report.get("duration") or 0.0),
                     stages=stages, cached=cached).to_dict()


def _write_report(job: Job, report: dict) -> None:
    try:
        write_text_atomic(job.report, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    except OSError:
        pass  # the result still reaches the summary; a rerun redoes a job without a report

