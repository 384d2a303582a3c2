"""Many dubs in one command: a manifest (or a glob) of inputs, one job per (input, language).

    dub batch jobs.csv [--jobs N] [--ray [ADDRESS]] [--work-dir DIR] [--report-dir DIR] [-q]
    dub batch 'folder/*.mp4' --lang en,pt [-o OUTDIR]

The manifest
------------
CSV is the main format. A header line names the columns; ``input`` and ``lang`` are
required, ``output`` is optional::

    input,lang,output,tts,voice
    talks/intro.mp4,en;pt,dubbed/intro.{lang}.mp4,,
    talks/qa.mp4,en,dubbed/qa.en.mp4,kokoro,

- ``lang`` may list several languages separated by ``;``: one job per language. With
  several languages, ``output`` should contain ``{lang}``; if it does not, ``.LANG`` is put
  before its extension. Without ``output`` the dub goes beside the input as
  ``STEM.LANG.EXT`` (or into ``-o OUTDIR``).
- Optional per-file option columns (an empty cell means "the command line's value"):
  ``source_lang, separator, asr, asr_model, translator, translator_model, tts, voice,
  tts_model, tts_fast, emotion, line_emotion, emotion_alpha, device, loudness, duck_db,
  keep_original, subs, allow_empty``.
- Relative paths are relative to the manifest's folder.
- JSONL (``.jsonl``/``.ndjson``: one object a line, same keys), JSON (``.json``: a list
  of such objects) and YAML (``.yaml``/``.yml``: a list of mappings, or a mapping with a
  ``jobs:`` list) are read too; a value for ``lang`` may then also be a list.

A manifest that cannot be read (missing, bad CSV/JSON/YAML, an unknown column, a row
without ``input`` or ``lang``, two jobs writing the same output) is a ``ManifestError``
naming the line and the fix, before any job starts.

Jobs, failures, resuming
------------------------
Each job runs :func:`dubber.dub.dub_video` with its own :class:`DubOptions`. A job that
fails (a corrupt file, an unsupported language...) is recorded as ``failed`` with a
one-line reason, and the other jobs go on. When a job has finished, its report JSON is
written atomically, *last*, to ``OUTPUT.report.json`` (or ``--report-dir``); it carries a
``batch`` section with the status and a fingerprint of the job (input size and mtime, and
the options). On a rerun, a job whose output exists and whose report says ``done`` with
the same fingerprint is ``skipped``; any other job runs again, and the stage cache
(``--work-dir``) makes it redo only the stages it had not finished. Outputs and stage
folders are written atomically, so nothing half-written is ever reused. Ctrl-C stops the
batch (workers included); rerunning the same command resumes it.

Scheduling and memory
---------------------
By default a batch is *stage-major* (``--order stage``): extraction runs over every
job, then separation over every job, then transcription, diarization, translation,
synthesis, and finally remix and mux. Before a worker starts a stage it releases the
models the previous stage loaded (:mod:`dubber.resident`), so Whisper and the TTS
model are never in memory together, and each model is loaded once per worker per
batch rather than once per file. Every stage leaves its output in the stage cache, so
a job picks up in the next stage exactly where it stopped, and a job that fails in one
stage is dropped from the later ones. In the stages that all languages of one input
share (extract to diarize) its first language runs before the others are scheduled, so
two workers never do the same work at once.

``--order file`` runs each job from extraction to mux before the next, keeping every
model loaded (the ASR, translation and TTS models resident together): the first output
comes sooner, at the cost of peak memory.

``--jobs N`` runs N worker processes (``concurrent.futures.ProcessPoolExecutor``, spawn
context) that live for the whole batch. Each worker holds the models of the current
stage, so memory grows about N times, and the workers compete for the same cores: every
stage is already multi-threaded, so more workers than physical cores rarely helps.
:func:`memory_cap` bounds N by the memory available.

Ray
---
``--ray [ADDRESS]`` runs the same batch on Ray (``pip install 'dub[ray]'``): one
long-lived actor (``DubWorker``) per worker, each holding its loaded models across the
jobs it is given. Without an address a local Ray instance starts (and is shut down at
the end); with one, the batch joins that cluster. Start a cluster with::

    ray start --head                       # on the head machine (port 6379)
    ray start --address=HEAD:6379          # on every other machine
    dub batch jobs.csv --ray HEAD:6379 --work-dir /shared/dub-work

Ray moves no media: inputs, outputs, reports and the work dir are *paths*, and they must
name the same files on every node (an NFS/SMB/CephFS mount at the same place, say). Each
node needs dub, ffmpeg and its model packages installed, at the same version. The number
of actors is ``--jobs`` or, when not given, the cluster's CPU count divided by
``RAY_CPUS_PER_WORKER`` (2), capped by the number of jobs; each actor reserves one Ray CPU.
A local instance is started with ``num_cpus=max(2, --jobs)`` and no dashboard.
"""

from __future__ import annotations

import csv
import glob as globlib
import io
import json
import math
import os
import time
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from tts_core.files import is_recording, write_text_atomic

from pipelines.errors import BackendError, DubError, UserError

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".yaml", ".yml")
# Per-file option columns -> converter of a cell's text (None: leave unset).
OPTION_COLUMNS: dict[str, Callable[[Any], Any]] = {}
REQUIRED = ("input", "lang")
WORKER_MEMORY_GB = 1.5  # a conservative bound on one worker's peak memory (bench.batch measures it)
RAY_CPUS_PER_WORKER = 2  # each dub uses several threads; fewer, fatter actors beat one per core


class ManifestError(UserError):
    """A manifest that cannot be read: the message names the line and the fix."""


def _text(value: Any) -> str:
    return str(value).strip()


def _float(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):  # float() takes "nan" and "inf", which no level or gain can be
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value (use true or false)")


OPTION_COLUMNS.update({
    "source_lang": _text, "separator": _text, "asr": _text, "asr_model": _text, "translator": _text,
    "translator_model": _text, "tts": _text, "voice": _text, "tts_model": _text, "tts_fast": _bool,
    "emotion": _text, "line_emotion": _bool, "emotion_alpha": _float, "device": _text, "loudness": _float,
    "duck_db": _float, "keep_original": _bool, "subs": _bool, "allow_empty": _bool,
})
COLUMNS = ("input", "lang", "output", *OPTION_COLUMNS)


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


# ---------------------------------------------------------------------------- manifests


def _split_langs(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = str(value).replace(",", ";").split(";")
    return [item.strip() for item in items if item.strip()]


def _output_for(input_path: Path, lang: str, output: str | None, several: bool, out_dir: Path | None,
                base: Path) -> Path:
    if output:
        text = output.replace("{lang}", lang)
        path = Path(text)
        if several and "{lang}" not in output:
            path = path.with_name(f"{path.stem}.{lang}{path.suffix or '.mp4'}")
        return path if path.is_absolute() else base / path
    folder = out_dir if out_dir is not None else input_path.parent
    return folder / f"{input_path.stem}.{lang}{input_path.suffix or '.mp4'}"


def report_path(output: Path, report_dir: Path | None) -> Path:
    name = f"{output.name}.report.json"
    return (report_dir / name) if report_dir is not None else output.with_name(name)


def _rows_csv(text: str, name: str) -> Iterable[tuple[str, dict]]:
    # strict: a quote left open is an error, not the rest of the file read as one cell
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    read = 0  # lines read before the row being parsed: an open quote is reported where it opens
    try:
        if not reader.fieldnames:
            raise ManifestError(f"{name} is empty: its first line must name the columns, e.g. 'input,lang,output'")
        header = [(h or "").strip() for h in reader.fieldnames]
        reader.fieldnames = header
        _check_columns(header, f"{name} line 1")
        read = reader.line_num
        for row in reader:
            where = f"{name} line {reader.line_num}"
            read = reader.line_num
            if None in row:
                raise ManifestError(f"{where}: more values than the header has columns "
                                    f"(quote values that contain commas)")
            values = {k: v for k, v in row.items() if v is not None and str(v).strip() != ""}
            first = next(iter(row.values()), None)
            if not values or (isinstance(first, str) and first.lstrip().startswith("#")):
                continue  # a blank or comment line
            yield where, values
    except csv.Error as exc:
        raise ManifestError(f"{name} line {read + 1}: not valid CSV ({exc}): check its quotes") from None


def _check_columns(keys: Iterable[str], where: str) -> None:
    unknown = [k for k in keys if k not in COLUMNS]
    if unknown:
        raise ManifestError(f"{where}: unknown column {unknown[0]!r}: the columns are {', '.join(COLUMNS)}")


def _rows_jsonl(text: str, name: str) -> Iterable[tuple[str, dict]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{name} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}): "
                                f"write one object per line, e.g. {{\"input\": \"a.mp4\", \"lang\": \"en\"}}") from None
        yield where, _mapping(item, where)


def _mapping(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a mapping like {{input: a.mp4, lang: en}}, got {type(item).__name__}")
    _check_columns([str(k) for k in item], where)
    return {str(k): v for k, v in item.items() if v is not None and str(v).strip() != ""}


def _rows_json(text: str, name: str) -> Iterable[tuple[str, dict]]:
    stripped = text.lstrip()
    if not stripped.startswith("["):
        yield from _rows_jsonl(text, name)
        return
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg}): fix it or use JSONL") from None
    if not isinstance(items, list):
        raise ManifestError(f"{name}: expected a list of jobs [{{\"input\": \"a.mp4\", \"lang\": \"en\"}}, ...]")
    for number, item in enumerate(items, 1):
        where = f"{name} item {number}"
        yield where, _mapping(item, where)


def _rows_yaml(text: str, name: str) -> Iterable[tuple[str, dict]]:
    import yaml

    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{name}{line}: not valid YAML ({problem}): check its indentation and quotes") from None
    nodes = root
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
        nodes = next((v for k, v in root.value if k.value == "jobs"), None)
    if not isinstance(data, list):
        raise ManifestError(f"{name}: expected a list of jobs (- input: a.mp4\\n  lang: en) or a 'jobs:' list")
    for i, item in enumerate(data):
        node = nodes.value[i] if nodes is not None and hasattr(nodes, "value") and i < len(nodes.value) else None
        where = f"{name} line {node.start_mark.line + 1}" if node is not None else f"{name} item {i + 1}"
        yield where, _mapping(item, where)


def read_manifest(path: str | Path, *, lang: str | None = None, out_dir: Path | None = None,
                  report_dir: Path | None = None, work_dir: Path | None = None,
                  defaults: dict | None = None) -> list[Job]:
    """The jobs of a manifest, in scheduling order. ``lang`` is the language of rows
    without one; ``defaults`` are option values the rows' cells override."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}: give a CSV, JSONL or YAML file "
                            "(or a quoted glob like 'videos/*.mp4' with --lang)")
    suffix = path.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise ManifestError(f"{name}: unknown manifest type {suffix or '(none)'}: use .csv, .jsonl, .json or .yaml")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ManifestError(f"{name}: not UTF-8 text: save the manifest as UTF-8") from None
    reader = {".csv": _rows_csv, ".jsonl": _rows_jsonl, ".ndjson": _rows_jsonl, ".json": _rows_json,
              ".yaml": _rows_yaml, ".yml": _rows_yaml}[suffix]
    base = path.resolve().parent
    jobs = []
    for where, row in reader(text, name):
        if "input" not in row:
            raise ManifestError(f"{where}: no input: every row needs an input file")
        langs = _split_langs(row.get("lang", lang or ""))
        if not langs:
            raise ManifestError(f"{where}: no lang: give a target language (e.g. en, or en;pt for several)")
        options = dict(defaults or {})
        for key, convert in OPTION_COLUMNS.items():
            if key in row:
                try:
                    options[key] = convert(row[key])
                except ValueError as exc:
                    raise ManifestError(f"{where}: bad {key} value {row[key]!r}: {exc}") from None
        source = Path(str(row["input"]).strip())
        source = source if source.is_absolute() else base / source
        for code in langs:
            output = _output_for(source, code, row.get("output"), len(langs) > 1, out_dir, base)
            jobs.append(Job(str(source), code, str(output), str(report_path(output, report_dir)), options,
                            str(work_dir) if work_dir else None, where))
    if not jobs:
        raise ManifestError(f"{name} has no jobs: add rows like 'talk.mp4,en,talk.en.mp4' under the header")
    return _checked(jobs)


def _is_earlier_output(path: Path, langs: list[str], pool: set[Path]) -> bool:
    """``clip.en.mp4`` next to ``clip.mp4`` is the dub of a previous run, not an input."""
    stem = Path(path.stem)
    return stem.suffix.lstrip(".") in langs and path.with_name(f"{stem.stem}{path.suffix}") in pool


def glob_jobs(pattern: str, langs: str | list[str], *, out_dir: Path | None = None, report_dir: Path | None = None,
              work_dir: Path | None = None, defaults: dict | None = None) -> list[Job]:
    """One job per (file matching ``pattern``, language); outputs OUTDIR/STEM.LANG.EXT."""
    codes = _split_langs(langs)
    if not codes:
        raise UserError("a glob needs --lang: e.g. dub batch 'videos/*.mp4' --lang en,pt")
    found = sorted(Path(p).resolve() for p in globlib.glob(os.path.expanduser(pattern), recursive=True))
    found = [p for p in found if p.is_file() and p.suffix.lower() not in MANIFEST_SUFFIXES
             and not p.name.endswith(".report.json")]
    pool = set(found)
    inputs = [p for p in found if not _is_earlier_output(p, codes, pool)]
    if not inputs:
        raise UserError(f"no files match {pattern!r}: check the pattern (quote it so the shell does not expand it)")
    jobs = []
    for source in inputs:
        for code in codes:
            output = _output_for(source, code, None, True, out_dir, source.parent)
            jobs.append(Job(str(source), code, str(output), str(report_path(output, report_dir)),
                            dict(defaults or {}), str(work_dir) if work_dir else None, source.name))
    return _checked(jobs)


def _checked(jobs: list[Job]) -> list[Job]:
    inputs = {Path(job.input).resolve(): job for job in jobs}
    seen: dict[str, str] = {}
    for job in jobs:
        for kind, path in (("output", job.output), ("report", job.report)):
            # An output over an input would destroy it before (or while) it is dubbed.
            hit = inputs.get(Path(path).resolve())
            if hit is not None:
                whose = "its own input" if hit.input == job.input else f"the input of {hit.where}"
                raise ManifestError(f"{job.where}: {kind} {path} is {whose}: "
                                    "give the job an output that is not an input")
        for kind, path in (("output", job.output), ("report", job.report)):
            key = os.path.normpath(os.path.abspath(path))
            if key in seen:
                raise ManifestError(f"{job.where}: {kind} {path} is also written by {seen[key]}: "
                                    f"give each job its own output (use {{lang}} in the output for several languages)")
            seen[key] = job.where
    return order_jobs(jobs)


def order_jobs(jobs: list[Job]) -> list[Job]:
    """All languages of one input next to each other, inputs in first-seen order."""
    groups: OrderedDict[str, list[Job]] = OrderedDict()
    for job in jobs:
        groups.setdefault(os.path.abspath(job.input), []).append(job)
    return [job for group in groups.values() for job in group]


# ---------------------------------------------------------------------------- one job


def dub_options(job: Job):
    from pipelines.remix import MixOptions
    from pipelines.synthesize import default_backend
    from pipelines.translators import TranslatorOptions

    from .config import DubOptions

    o = job.options
    mix = MixOptions()
    mix_changes = {k: o[k] for k in ("loudness", "duck_db") if o.get(k) is not None}
    if mix_changes:
        mix = replace(mix, **mix_changes)
    kwargs = {k: o[k] for k in ("source_lang", "separator", "asr", "asr_model", "translator", "voice", "device",
                                "keep_original", "subs", "allow_empty", "tts_fast", "emotion", "line_emotion",
                                "emotion_alpha") if o.get(k) is not None}
    if o.get("voice") and is_recording(o["voice"]):  # a recording to approach, as on the command line
        kwargs["speaker_wav"] = Path(kwargs.pop("voice"))
    kwargs["tts"] = o.get("tts") or default_backend(job.lang, kwargs.get("voice"), "speaker_wav" in kwargs)
    if o.get("tts_model"):  # the backend's weights (IndexTTS-2's folder), as --tts-model
        kwargs["voice"] = o["tts_model"]
    return DubOptions(input=Path(job.input), output=Path(job.output), lang=job.lang, report=None,
                      translator_options=TranslatorOptions(model=o.get("translator_model")), mix=mix,
                      work_dir=Path(job.work_dir) if job.work_dir else None, **kwargs)


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

    from .dub import dub_video

    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    if until is not None:
        from .resident import release_for

        release_for(until)
    stamp = fingerprint(job)
    try:
        Path(job.output).resolve().parent.mkdir(parents=True, exist_ok=True)
        report = dub_video(dub_options(job), until=until)
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


# ---------------------------------------------------------------------------- backends


def memory_cap(workers: int) -> int:
    """``workers`` bounded by the memory available now (each worker holds its own models)."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) for line in f}
        available_gb = info["MemAvailable"] / 2**20
    except (OSError, KeyError, ValueError):
        return workers
    return max(1, min(workers, int(available_gb // WORKER_MEMORY_GB)))


class _Inline:
    """Jobs one after another in this process (models stay loaded between them)."""

    slots = 1

    def submit(self, job: Job, until: str | None = None, prior: dict | None = None):
        return run_job(job, until, prior)

    def wait(self, handles: list) -> list:
        return handles[:1]

    def result(self, handle) -> dict:
        return handle

    def close(self, interrupted: bool = False) -> None:
        pass


def _pool_init(env: dict) -> None:
    os.environ.update(env)


def _thread_env(workers: int) -> dict:
    """Thread counts for ``workers`` processes sharing this machine's cores: each stage is
    multi-threaded (torch, CTranslate2, BLAS), and two workers each running as many threads
    as there are cores spin against each other (measured: diarization 20x slower)."""
    share = str(max(1, (os.cpu_count() or 1) // workers))
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {name: os.environ.get(name, share) for name in names}


class _Pool:
    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.slots = workers
        env = {k: v for k, v in os.environ.items() if k.startswith("DUB_")} | _thread_env(workers)
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_pool_init, initargs=(env,))

    def submit(self, job: Job, until: str | None = None, prior: dict | None = None):
        return self.executor.submit(run_job, job.to_dict(), until, prior)

    def wait(self, handles: list) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle) -> dict:
        return handle.result()

    def close(self, interrupted: bool = False) -> None:
        if interrupted:
            processes = list((getattr(self.executor, "_processes", None) or {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:  # a dub in progress is abandoned; its temp files are discarded
                process.terminate()
        else:
            self.executor.shutdown(wait=True)


class DubWorker:
    """A Ray actor's body: a long-lived process that keeps its loaded models between jobs."""

    def __init__(self, env: dict):
        os.environ.update(env)

    def run(self, job: dict, until: str | None = None, prior: dict | None = None) -> dict:
        return run_job(job, until, prior)

    def pid(self) -> int:
        return os.getpid()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BackendError("--ray needs Ray: pip install 'dub[ray]'") from None
    return ray


class _Ray:
    def __init__(self, address: str | None, workers: int | None, njobs: int):
        ray = self.ray = _import_ray()
        self.started = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=max(2, workers or 2), include_dashboard=False, log_to_driver=False)
            except Exception as exc:  # a wrong address, a cluster of another Ray version...
                raise BackendError(f"cannot start or join Ray at {address or 'a local instance'}: {one_line(exc)} "
                                   "(start one with 'ray start --head', then pass --ray HEAD:6379)") from None
            self.started = True
        if workers is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            workers = max(1, cpus // RAY_CPUS_PER_WORKER)
        self.slots = max(1, min(workers, njobs))
        # Settings such as DUB_CACHE_DIR follow the driver (for a local instance; on a cluster
        # they must name paths that exist on every node).
        self.env = {k: v for k, v in os.environ.items() if k.startswith("DUB_")}
        self.actor_class = ray.remote(num_cpus=1)(DubWorker)
        self.actors = [self.actor_class.remote(self.env) for _ in range(self.slots)]
        self.idle = deque(self.actors)
        self.busy: dict = {}

    def submit(self, job: Job, until: str | None = None, prior: dict | None = None):
        actor = self.idle.popleft()
        ref = actor.run.remote(job.to_dict(), until, prior)
        self.busy[ref] = actor
        return ref

    def wait(self, handles: list) -> list:
        done, _ = self.ray.wait(handles, num_returns=1)
        return done

    def result(self, handle) -> dict:
        actor = self.busy.pop(handle)
        try:
            result = self.ray.get(handle)
        except Exception as exc:  # the actor died (out of memory, a lost node...): replace it
            self.actors.remove(actor)
            fresh = self.actor_class.remote(self.env)
            self.actors.append(fresh)
            self.idle.append(fresh)
            raise _WorkerLost(one_line(exc)) from None
        self.idle.append(actor)
        return result

    def close(self, interrupted: bool = False) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # an actor that already died needs no killing; shutdown follows
                pass
        if self.started:
            self.ray.shutdown()


class _WorkerLost(Exception):
    pass


# ---------------------------------------------------------------------------- the batch


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
    from .dub import STAGES

    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    jobs = order_jobs(jobs)
    if ray:
        backend = _Ray(ray_address, workers if workers and workers > 0 else None, len(jobs))
    elif pool or (pool is None and workers > 1):
        backend = _Pool(max(1, min(workers, len(jobs))))
    else:
        backend = _Inline()
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
            except _WorkerLost as exc:
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


def summary_rows(results: list[dict]) -> list[list[str]]:
    return [[Path(r["input"]).name, r["lang"], r["status"], f"{r['seconds']:.1f}", r.get("reason", "")]
            for r in results]


def format_summary(results: list[dict], wall: float | None = None) -> str:
    """A plain text table: file, language, status, seconds, reason; then the totals."""
    headers = ["file", "lang", "status", "seconds", "reason"]
    rows = summary_rows(results)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    fmt = lambda items: "  ".join(s.ljust(w) for s, w in zip(items, widths)).rstrip()
    lines = [fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    counts = {s: sum(r["status"] == s for r in results) for s in ("done", "skipped", "failed")}
    media = sum(r.get("duration") or 0.0 for r in results if r["status"] == "done")
    total = f"{len(results)} jobs: {counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed"
    if wall is not None:
        total += f" in {wall:.1f}s"
        if media and wall > 0:
            total += f" ({media:.0f}s of media, {media / wall:.2f} media s per wall s)"
    return "\n".join(lines + [total])
