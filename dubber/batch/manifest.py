"""A batch's jobs: one per (input, language), from a manifest's rows or a glob of files.

Everything a job will write is decided and checked here, before any job starts: a
manifest that would have two jobs write one file, or a job write over an input, is
refused whole rather than found out halfway through a night's batch.
"""

from __future__ import annotations

import glob as globlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from pipelines.errors import UserError

from ..options import OPTION_COLUMNS, default_output
from .job import Job
from .rows import MANIFEST_SUFFIXES, ManifestError, read_rows


def plan_jobs(source: str, *, lang: str | None = None, out_dir: Path | None = None, report_dir: Path | None = None,
              work_dir: Path | None = None, defaults: dict | None = None) -> list[Job]:
    """The jobs of ``source``: a manifest file, or a glob of inputs (which needs ``lang``)."""
    common = dict(out_dir=out_dir, report_dir=report_dir, work_dir=work_dir, defaults=defaults)
    if Path(source).suffix.lower() in MANIFEST_SUFFIXES and not any(c in source for c in "*?["):
        return read_manifest(source, lang=lang, **common)
    if not lang:
        raise ManifestError(f"{source} is not a manifest (.csv, .jsonl, .json, .yaml): for a glob of "
                            "files give the languages, e.g. --lang en,pt")
    return glob_jobs(source, lang, **common)


def read_manifest(path: str | Path, *, lang: str | None = None, out_dir: Path | None = None,
                  report_dir: Path | None = None, work_dir: Path | None = None,
                  defaults: dict | None = None) -> list[Job]:
    """The jobs of a manifest, in scheduling order. ``lang`` is the language of rows
    without one; ``defaults`` are option values the rows' cells override."""
    path = Path(path)
    rows = read_rows(path)
    base = path.resolve().parent
    jobs = []
    for where, row in rows:
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
        raise ManifestError(f"{path.name} has no jobs: add rows like 'talk.mp4,en,talk.en.mp4' under the header")
    return _checked(jobs)


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
    return default_output(input_path, lang, out_dir)


def report_path(output: Path, report_dir: Path | None) -> Path:
    name = f"{output.name}.report.json"
    return (report_dir / name) if report_dir is not None else output.with_name(name)


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
