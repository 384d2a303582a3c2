"""``dub models``: what the dub can use, what is here, and fetching it ahead of a run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_support import run


@click.group("models", invoke_without_command=True)
@click.option("--kind", type=click.Choice(["asr", "translation", "tts", "separation"]), help="Only this kind.")
@click.option("--json", "as_json", is_flag=True, help="The list as JSON.")
@click.pass_context
def models(ctx, kind, as_json):
    """List every model: name, kind, installed or not, size, where it lives, licence.

    \b
    dub models
    dub models pull whisper-small kokoro kokoro-voices-es
    dub models rm whisper-small
    """
    if ctx.invoked_subcommand is not None:
        return
    rows, _ = run(lambda: _rows(kind), False)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    header = ("name", "kind", "installed", "size", "licence", "where / how to get it")
    table = [header] + [(r["name"], r["kind"], "yes" if r["installed"] else "no", r["size"], r["licence"],
                         r["where"] or (r["package"] or f"dub models pull {r['name']}")) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + str(row[-1]))
    click.echo("\nAny Piper voice by name (piper:en_US-lessac-medium) and OPUS-MT pair (opus-mt-de-fr) "
               "can be pulled too.")


def _rows(kind: str | None) -> list[dict]:
    from pipelines.models import catalogue
    from tts_core.download import human_size

    rows = []
    for model in catalogue():
        if kind and model.kind != kind:
            continue
        where = model.location()
        size = model.installed_size() or model.size
        estimate = where is None or model.source == "package"
        rows.append({"name": model.name, "kind": model.kind, "installed": where is not None,
                     "size": ("~" if estimate and size else "") + human_size(size), "bytes": size,
                     "licence": model.licence, "where": str(where) if where else None, "source": model.source,
                     "package": model.package, "about": model.about})
    return rows


@models.command("pull")
@click.argument("names", nargs=-1, required=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def pull(names, quiet, debug):
    """Download models now (resumable: run it again after an interruption; checked by SHA-256
    where the source publishes one)."""
    from pipelines.models import find, pull as pull_model

    chosen, _ = run(lambda: [find(n) for n in names], debug)  # every name checked before any download
    for model in chosen:
        folder, seconds = run(lambda: _pull_one(model, quiet, pull_model), debug)
        if not quiet:
            click.echo(f"{model.name}: in {folder} ({seconds:.1f}s)", err=True)


def _pull_one(model, quiet: bool, pull_model) -> Path:
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or model.source == "package" or not console.is_terminal:  # a bar only where it can redraw
        return pull_model(model)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("  {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(file: str, done: int, total: int | None) -> None:
            if file not in tasks:
                tasks[file] = bar.add_task(f"{model.name}: {file}", total=total)
            bar.update(tasks[file], completed=done, total=total)

        return pull_model(model, progress)


@models.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def rm(names, debug):
    """Delete pulled models to free the space (packages are removed with pip or apt-get)."""
    from pipelines.models import find, remove
    from tts_core.download import human_size

    chosen, _ = run(lambda: [find(n) for n in names], debug)
    for model in chosen:
        freed, _ = run(lambda: remove(model), debug)
        click.echo(f"{model.name}: {'freed ' + human_size(freed) if freed else 'was not installed'}", err=True)
