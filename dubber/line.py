"""One line of text spoken to an exact length: ``dub tts "text" --duration 2.4 -o line.wav``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.asr import check_language
from pipelines.errors import InputError, UserError

from .paths import check_folder, check_not_inputs

# The decoder's memory grows with the length (about 1.5 GB a minute): a line far longer
# than this is killed rather than written, so it is refused up front.
MAX_LINE_SECONDS = 60


@dataclass(frozen=True)
class LineOptions:
    text: str  # what is said
    output: Path  # a 16-bit WAV
    tts: str  # backend name
    lang: str | None = None  # language of the text, for multilingual backends; None = the backend's
    voice: str | None = None  # the backend's voice: a name or model path; None = its default
    speaker_wav: str | None = None  # a recording of the voice to approach
    duration: float | None = None  # exact seconds
    target_tokens: int | None = None  # exact length in the backend's frames
    duration_scale: float | None = None  # length relative to the natural one
    emotion: str | list[float] | None = None  # a name, a description, "auto" or 8 weights
    emotion_wav: str | None = None  # a recording to take the emotion from
    emotion_alpha: float = 1.0  # how much of that emotion, against the voice's own
    tts_fast: bool = False  # the backend's fast setting
    seed: int = 0
    device: str = "cpu"


def speak_line(options: LineOptions):
    """Speak the line and write it; returns the ``tts_core.Speech``. Every path and length
    is checked before the model loads, the longest possible length once it has."""
    from tts_core import TTS

    output, text = Path(options.output), options.text
    if output.suffix.lower() != ".wav":  # what is written is a WAV whatever the name says
        raise UserError(f"the line is written as WAV: use an output ending in .wav, not {output.name}")
    check_folder(output)
    for option, path in (("--voice", options.speaker_wav), ("--emotion", options.emotion_wav)):
        if path and not Path(path).is_file():
            raise InputError(f"{option} {path} does not exist: check the path")
    check_not_inputs([("-o", output)], [("the --voice recording", options.speaker_wav),
                                         ("the --emotion recording", options.emotion_wav)])
    if options.duration is not None and options.duration > MAX_LINE_SECONDS:
        raise UserError(f"--duration {options.duration:g} is longer than one line can be ({MAX_LINE_SECONDS} s): "
                        "split the text into lines (dub srt speaks a whole script)")
    lang = check_language(options.lang) if options.lang is not None else None  # "" or "xx" is refused, not ignored
    engine = TTS.from_pretrained(options.tts, voice=options.voice, device=options.device, lang=lang,
                                 **({"fast": True} if options.tts_fast else {}))
    tokens, scale = options.target_tokens, options.duration_scale
    if tokens is not None and tokens > MAX_LINE_SECONDS * engine.token_rate:
        raise UserError(f"--target-tokens {tokens} is longer than one line can be "
                        f"({int(MAX_LINE_SECONDS * engine.token_rate)} frames, {MAX_LINE_SECONDS} s): "
                        "split the text into lines")
    if scale is not None and scale > 1 and text.strip():
        natural = engine.natural_duration(text, speaker_wav=options.speaker_wav)
        if natural * scale > MAX_LINE_SECONDS:
            raise UserError(f"--duration-scale {scale:g} makes this line {natural * scale:.0f} "
                            f"s, longer than one line can be ({MAX_LINE_SECONDS} s): split the text into lines")
    speech = engine.synthesize(text, duration=options.duration, target_tokens=tokens, duration_scale=scale,
                               seed=options.seed, speaker_wav=options.speaker_wav, emotion=options.emotion,
                               emotion_wav=options.emotion_wav, emotion_alpha=options.emotion_alpha)
    speech.save(output)
    return speech
