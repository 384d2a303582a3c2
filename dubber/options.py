"""User-facing option values turned into the frozen options of a run.

A command-line flag and a batch manifest's column are one option under one name
(``--tts-model`` is the column ``tts_model``), so each options type is assembled here, once,
for every way of asking for it. ``None`` always means "not given": the options type's own
default applies, so a flag's default and an empty manifest cell cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tts_core.files import is_recording

if TYPE_CHECKING:
    from .config import DubOptions
    from .line import LineOptions
    from .srt_flow import SrtOptions


# ---------------------------------------------------------------- a manifest cell's value
# A cell is text in a CSV and may already be typed in JSON or YAML; a flag's value was
# typed by click. These read either.


def as_text(value: Any) -> str:
    return str(value).strip()


def as_number(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):  # float() takes "nan" and "inf", which no level or gain can be
        raise ValueError(f"{value!r} is not a finite number")
    return number


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value (use true or false)")


# The options a batch manifest's row may set for its file, in the order the manifest
# documentation lists them, with how to read a cell. Each is a keyword of dub_options.
OPTION_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "source_lang": as_text, "separator": as_text, "asr": as_text, "asr_model": as_text, "translator": as_text,
    "translator_model": as_text, "tts": as_text, "voice": as_text, "tts_model": as_text, "tts_fast": as_bool,
    "emotion": as_text, "line_emotion": as_bool, "emotion_alpha": as_number, "device": as_text,
    "loudness": as_number, "duck_db": as_number, "keep_original": as_bool, "subs": as_bool, "allow_empty": as_bool,
}


# ---------------------------------------------------------------- the voice


def recording(value: str | None) -> str | None:
    """``value`` when it names a recording to take a voice (or an emotion) from, else None:
    the same flag also takes a name the backend knows."""
    return value if value and is_recording(value) else None


@dataclass(frozen=True)
class VoiceChoice:
    tts: str  # the backend
    voice: str | None  # the backend's own voice: a name or model path (or --tts-model); None = its default
    speaker_wav: str | None  # a recording every line approaches; None = no reference


def choose_voice(lang: str | None, tts: str | None, voice: str | None, tts_model: str | None) -> VoiceChoice:
    """What ``--voice`` means: a voice the backend has, or a recording of a voice to approach
    (which then also decides the default backend: one that can follow it). ``--tts-model``
    names the backend's weights, which take the place of a voice name."""
    from pipelines.synthesize import default_backend

    speaker_wav = recording(voice)
    return VoiceChoice(tts=tts or default_backend(lang, voice, bool(speaker_wav)),
                       voice=tts_model or (None if speaker_wav else voice), speaker_wav=speaker_wav)


def _given(**values: Any) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def default_output(source: Path, lang: str, folder: Path | None = None) -> Path:
    """``STEM.LANG.EXT`` beside the input (or in ``folder``)."""
    folder = folder if folder is not None else source.parent
    return folder / f"{source.stem}.{lang}{source.suffix or '.mp4'}"


# ---------------------------------------------------------------- the options types


def dub_options(input: str | Path, output: str | Path | None, lang: str, *, report: Path | None = None,
                source_lang: str | None = None, separator: str | None = None, asr: str | None = None,
                asr_model: str | None = None, translator: str | None = None, translator_model: str | None = None,
                llm_url: str | None = None, llm_model: str | None = None, llm_api_key_env: str | None = None,
                tts: str | None = None, voice: str | None = None, tts_model: str | None = None,
                tts_fast: bool | None = None, emotion: str | None = None, line_emotion: bool | None = None,
                emotion_alpha: float | None = None, device: str | None = None, loudness: float | None = None,
                duck_db: float | None = None, duck_attack: float | None = None, duck_release: float | None = None,
                keep_original: bool | None = None, stems: Path | None = None, srt: Path | None = None,
                subs: bool | None = None, speakers: int | None = None, allow_empty: bool | None = None,
                work_dir: str | Path | None = None) -> DubOptions:
    """A video dub's options from ``dub VIDEO``'s flags or a manifest row (``output`` None:
    beside the input)."""
    from pipelines.remix import MixOptions
    from pipelines.translators import TranslatorOptions

    from .config import DubOptions

    input = Path(input)
    choice = choose_voice(lang, tts, voice, tts_model)
    mix = replace(MixOptions(), **_given(loudness=loudness, duck_db=duck_db, duck_attack=duck_attack,
                                         duck_release=duck_release))
    translators = TranslatorOptions(model=translator_model, llm_url=llm_url, llm_model=llm_model,
                                    llm_api_key_env=llm_api_key_env)
    return DubOptions(
        input=input, output=Path(output) if output is not None else default_output(input, lang), lang=lang,
        tts=choice.tts, voice=choice.voice, speaker_wav=Path(choice.speaker_wav) if choice.speaker_wav else None,
        translator_options=translators, mix=mix, work_dir=Path(work_dir) if work_dir else None,
        **_given(report=report, source_lang=source_lang, separator=separator, asr=asr, asr_model=asr_model,
                 translator=translator, tts_fast=tts_fast, emotion=emotion, line_emotion=line_emotion,
                 emotion_alpha=emotion_alpha, device=device, keep_original=keep_original, stems=stems, srt=srt,
                 subs=subs, speakers=speakers, allow_empty=allow_empty))


def srt_options(input: Path, output: Path, lang: str, *, report: Path | None = None,
                tts: str | None = None, voice: str | None = None, tts_model: str | None = None,
                tts_fast: bool | None = None, emotion: str | None = None, loudness: float | None = None,
                device: str | None = None, work_dir: Path | None = None) -> SrtOptions:
    """``dub srt``'s options from its flags."""
    from .srt_flow import SrtOptions

    choice = choose_voice(lang, tts, voice, tts_model)
    return SrtOptions(input=input, output=output, lang=lang, tts=choice.tts, voice=choice.voice,
                      speaker_wav=choice.speaker_wav,
                      **_given(report=report, device=device, tts_fast=tts_fast, emotion=emotion, loudness=loudness,
                               work_dir=work_dir))


def emotion_value(value: str) -> str | list[float]:
    """'0.8,0,0,...' -> a list of weights; anything else (a name, 'auto', a description) as is."""
    parts = value.split(",")
    try:
        return [float(p) for p in parts] if len(parts) > 1 else value
    except ValueError:
        return value


def line_options(text: str, output: Path, *, lang: str | None = None, duration: float | None = None,
                 target_tokens: int | None = None, duration_scale: float | None = None, tts: str | None = None,
                 voice: str | None = None, tts_model: str | None = None, tts_fast: bool | None = None,
                 emotion: str | None = None, emotion_alpha: float | None = None, seed: int | None = None,
                 device: str | None = None) -> LineOptions:
    """``dub tts``'s options from its flags; ``--emotion`` too may be a recording."""
    from .line import LineOptions

    choice = choose_voice(lang, tts, voice, tts_model)
    emotion_wav = recording(emotion)
    return LineOptions(text=text, output=output, lang=lang, tts=choice.tts, voice=choice.voice,
                       speaker_wav=choice.speaker_wav, emotion_wav=emotion_wav,
                       emotion=None if emotion is None or emotion_wav else emotion_value(emotion),
                       **_given(duration=duration, target_tokens=target_tokens, duration_scale=duration_scale,
                                tts_fast=tts_fast, emotion_alpha=emotion_alpha, seed=seed, device=device))
