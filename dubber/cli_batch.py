"""``dub batch``: many files in one command, and the summary table that ends it.

How a batch is planned and run is :mod:`dubber.batch`; its manual is docs/batch.md.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from .cli_support import DEVICE, LUFS, run


@click.command("batch")
@click.argument("manifest")
@click.option("--lang", help="Languages for a glob, comma separated (en,pt); for a manifest, the language of rows "
              "without one.")
@click.option("-o", "--out-dir", type=click.Path(path_type=Path), help="Folder for outputs (STEM.LANG.EXT) "
              "[default: beside each input].")
@click.option("-j", "--jobs", "workers", type=click.IntRange(min=1), help="Jobs at a time: worker processes "
              "(or Ray actors) [default: 1; with --ray, the cluster's CPUs / 2].")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Run on Ray: a local instance, or the cluster at ADDRESS (HEAD:6379). Needs pip install 'dub[ray]'.")
@click.option("--work-dir", type=click.Path(path_type=Path), help="Stage cache shared by the jobs "
              "[default: ~/.cache/dub/work].")
@click.option("--order", type=click.Choice(["stage", "file"]), default="stage", show_default=True,
              help="stage: each stage over every file before the next loads its model (the ASR and TTS models are "
              "never in memory together); file: each file start to end, every model kept loaded.")
@click.option("--report-dir", type=click.Path(path_type=Path), help="Per-job reports go here "
              "[default: OUTPUT.report.json beside each output].")
@click.option("--separator", help="Default for every job (a manifest column overrides it): deepfilternet | none.")
@click.option("--tts", "tts_backend", help="Default TTS backend for every job.")
@click.option("--voice", help="Default voice for every job.")
@click.option("--translator", help="Default translator for every job.")
@click.option("--source-lang", help="Language spoken in the inputs [default: detected].")
@click.option("--asr-model", help="Default Whisper model for every job.")
@click.option("--loudness", type=LUFS, help="Default target loudness (LUFS) for every job.")
@click.option("--device", type=DEVICE, help="cpu, cuda or cuda:N, for every job.")
@click.option("-q", "--quiet", is_flag=True, help="No per-job progress (the summary is still printed).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def batch(manifest, lang, out_dir, workers, ray_address, work_dir, order, report_dir, separator, tts_backend, voice,
          translator, source_lang, asr_model, loudness, device, quiet, debug):
    """Dub many files: MANIFEST is a CSV (input,lang,output[,tts,voice,...]), JSONL or YAML file, or a quoted
    glob ('videos/*.mp4') with --lang en,pt. One job per (input, language); a failed job does not stop the
    others; rerunning skips the jobs already done. Exit code 1 when a job failed.

    \b
    dub batch jobs.csv --jobs 2
    dub batch 'videos/*.mp4' --lang en,pt -o dubbed/
    dub batch jobs.csv --ray HEAD:6379 --work-dir /shared/work
    """
    from . import batch as batch_mod

    # The flags are defaults under the manifest's column names: a row's own cell wins.
    defaults = {k: v for k, v in (("separator", separator), ("tts", tts_backend), ("voice", voice),
                                  ("translator", translator), ("source_lang", source_lang),
                                  ("asr_model", asr_model), ("loudness", loudness), ("device", device))
                if v is not None}
    use_ray = ray_address is not None
    jobs, _ = run(lambda: batch_mod.plan_jobs(manifest, lang=lang, out_dir=out_dir, report_dir=report_dir,
                                              work_dir=work_dir, defaults=defaults), debug)
    run(lambda: _models_first(jobs, quiet), debug)
    count = workers or 1
    if not use_ray and count > 1:
        capped = batch_mod.memory_cap(count)
        if capped < count and not quiet:
            click.echo(f"dub: running {capped} jobs at a time, not {count}: not enough free memory for more "
                       f"(about {batch_mod.WORKER_MEMORY_GB:g} GB each)", err=True)
        count = capped
    done_count = [0]

    def on_result(result):
        done_count[0] += 1
        if not quiet:
            note = f" ({result['reason']})" if result["status"] == "failed" else ""
            click.echo(f"[{done_count[0]}/{len(jobs)}] {Path(result['input']).name} -> {result['lang']}: "
                       f"{result['status']} in {result['seconds']:.1f}s{note}", err=True)

    def on_stage(stage, count):
        click.echo(f"dub: stage {stage} over {count} job{'s' if count > 1 else ''}", err=True)

    if not quiet:
        where = f"Ray ({ray_address or 'local'})" if use_ray else f"{count} worker{'s' if count > 1 else ''}"
        click.echo(f"dub: {len(jobs)} jobs on {where}", err=True)
    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    started = time.perf_counter()

    def work():
        try:
            return batch_mod.run_batch(jobs, workers=workers if use_ray else count, ray=use_ray,
                                       ray_address=ray_address or None, order=order, on_result=on_result,
                                       on_stage=None if quiet else on_stage)
        except batch_mod.BatchInterrupted as stop:  # what finished is summarised; fail() adds the rerun hint
            click.echo(format_summary(stop.results, time.perf_counter() - started), err=True)
            raise KeyboardInterrupt from None

    results, _ = run(work, debug)
    click.echo(format_summary(results, time.perf_counter() - started), err=True)
    if any(r["status"] == "failed" for r in results):
        sys.exit(1)


def _models_first(jobs, quiet: bool) -> None:
    """Every model the jobs load by name, present before the first job starts: pulled now
    when the network allows (once, rather than by each worker at the same time), else one
    line saying what to pull."""
    from pipelines import hub
    from pipelines.errors import InputError
    from pipelines.models import missing, needed, pull
    from tts_core.download import human_size, offline

    wanted = {}
    for job in jobs:
        o = job.dub_options()
        for model in needed(asr_model=o.asr_model, translator=o.translator, translator_model=o.translator_options.model,
                            tts=o.tts, voice=o.voice, separator=o.separator, source_lang=o.source_lang, lang=o.lang):
            wanted[model.name] = model
    absent = missing(list(wanted.values()))
    if not absent:
        return
    names = " ".join(m.name for m in absent)
    total = sum(m.size or 0 for m in absent)
    if offline() or not hub.reachable():
        raise InputError(f"the jobs need models that are not installed and cannot be downloaded now: {names} "
                         f"(about {human_size(total)}); run `dub models pull {names}` on a machine that is online")
    if not quiet:
        click.echo(f"dub: downloading {names} (about {human_size(total)}) before the first job", err=True)
    for model in absent:
        pull(model)


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
