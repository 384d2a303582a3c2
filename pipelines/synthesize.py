"""Stage 5: plan every line's slot (pipelines/fit.py), then generate each line to exactly
that length with the TTS core.

Lines are cached one by one (keyed by text, slot length and voice), so editing one line
re-synthesises only that line.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from tts_core import RENDER_VERSION
from tts_core.files import sha256_file, write_text_atomic

from .cache import item_path
from .errors import BackendError, InputError
from .media import read_wav, resample, write_wav

from .fit import FitOptions, FittedLine, fit_timeline

# This stage's own version and the TTS core's: audio rendered by an older core is redone.
VERSION = f"3-{RENDER_VERSION}"


def default_backend(lang: str | None, voice: str | None = None, recording: bool = False) -> str:
    """The backend a run uses when ``--tts`` is not given, from what the backends declare
    (``tts_core.backends.default_backend``): Kokoro to approach a recording or for one of
    its own voices (``ef_dora``), Piper for another voice name or path and for English,
    Kokoro where it speaks the language, else
    espeak-ng, which speaks almost any. A Spanish script then just works."""
    from tts_core.backends import default_backend as from_backends

    return from_backends(lang, named_voice=bool(voice), recording=recording, voice=voice)


@functools.lru_cache(maxsize=2)
def load_tts(backend: str, voice: str | None, device: str, lang: str, fast: bool = False):
    """``fast``: the backend's fast setting (IndexTTS-2: one beam, fewer flow steps)."""
    from tts_core import TTS, TTSError
    from tts_core.backends import backend_names

    try:
        return TTS.from_pretrained(backend, voice=voice, device=device, lang=lang, **({"fast": True} if fast else {}))
    except TTSError as exc:
        from tts_core.backends import get_backend

        # espeak lists no languages of its own: it speaks whatever espeak-ng has a voice for.
        others = [f"--tts {name} ({', '.join(get_backend(name).languages) or 'any espeak-ng language'})"
                  for name in backend_names() if name != backend]
        raise BackendError(f"{exc}; choose a voice with --voice, or {' or '.join(others)}") from exc


def warm(backend: str, voice: str | None, device: str, lang: str, fast: bool = False) -> None:
    """The voice, and the resampler each line goes through (scipy.signal, about half a
    second to import), loaded ahead of ``synthesize``."""
    load_tts(backend, voice, device, lang, fast)
    import scipy.signal  # noqa: F401


def prepare_voices(backend: str, voice: str | None, device: str, lang: str, references: list[str],
                   fast: bool = False) -> None:
    """Each speaker's voice matched to their reference clip now (about a second each with
    Kokoro), before the lines are planned: the stage's lines then find the matches done."""
    tts = load_tts(backend, voice, device, lang, fast)
    for reference in references:
        tts.prepare_voice(reference)


def check_language(backend: str, voice: str | None, lang: str, device: str, speaker_wav: str | None = None,
                   fast: bool = False) -> None:
    """Load the voice now, so a language it cannot speak, or a recording to approach that
    it cannot follow or that is not audio, fails before any other work."""
    tts = load_tts(backend, voice, device, lang, fast)
    if speaker_wav is None:
        return
    from tts_core import TTSError
    from tts_core.voice import load_audio

    if not Path(speaker_wav).is_file():
        raise InputError(f"--voice {speaker_wav} does not exist: check the path, or give a voice name")
    if not tts.backend.supports_voice_reference:
        raise BackendError(f"the {backend} backend cannot follow a recording of a voice ({speaker_wav}): "
                           "add --tts kokoro, or give --voice a voice name")
    try:
        load_audio(speaker_wav)
    except TTSError as exc:
        raise InputError(f"--voice {exc}") from None


def synthesize(cache: Path, segments: list[dict], backend: str, voice: str | None, device: str, lang: str,
               rate: int, progress: Callable[[str, int], Callable[[int], None]], fit: FitOptions | None = FitOptions(),
               programme_end: float | None = None, speaker_wav: str | None = None,
               rewrite: Callable[[str, str, float], str] | None = None, emotion: EmotionOptions | None = None,
               fast: bool = False) -> dict:
    """Plan the slots over the whole timeline (``fit``; None keeps the source slots as
    they are), then generate each line to its planned slot. ``rewrite(text, source_text,
    factor)`` (a rewriting translator) is asked for a shorter or longer line when one does
    not fit its slot comfortably. Each line's audio is cached under ``cache`` (a folder),
    keyed by what it depends on. ``emotion`` is what a backend with an emotion model is
    conditioned on (each line's own source audio by default, when there is one)."""
    from tts_core import TTSError

    segments = [dict(seg) for seg in segments]
    rewritten: set[int] = set()
    emotion = emotion or EmotionOptions()

    spoken = [i for i, seg in enumerate(segments) if seg["text"].strip() and seg["end"] > seg["start"]]
    tts = load_tts(backend, voice, device, lang, fast) if spoken else None

    def reference_of(seg: dict) -> str | None:
        """A speaker's own reference clip (from diarization) when the voice can follow one."""
        return seg.get("reference") if tts.backend.supports_voice_reference and not speaker_wav else speaker_wav

    # A fixed emotion goes to any backend with emotion control; each line's own audio only
    # to one with an emotion model (a prosody backend's default dub is left as measured).
    kind = tts.backend.supports_emotion if tts else "none"
    feeling = _line_emotions(cache, segments, spoken, emotion if kind == "model" else replace(emotion, dialogue=None)) \
        if kind != "none" else {}

    def voice_of(i: int) -> dict:
        return {"speaker_wav": reference_of(segments[i]), **feeling.get(i, {})}

    plans: dict[int, FittedLine] = {}
    if fit is not None and spoken:
        naturals, usable = [], []
        for i in spoken:
            try:
                # Measured in the voice that will speak the line (the speaker's matched voice).
                naturals.append(tts.natural_duration(segments[i]["text"].strip(), **voice_of(i)))
                usable.append(i)
            except TTSError:
                pass  # nothing speakable: reported below when synthesis refuses it too
        fitted = fit_timeline([segments[i] for i in usable], naturals, fit, end_of_programme=programme_end)
        if rewrite is not None:
            fitted = _rewrite_misfits(segments, usable, naturals, fitted, fit, programme_end, tts, rewrite, rewritten,
                                      voice_of)
        plans = {i: line for i, line in zip(usable, fitted)}

    tick = progress("synthesizing lines", len(segments))
    lines = []
    for index, seg in enumerate(segments):
        plan = plans.get(index)
        start, end = (plan.start, plan.end) if plan else (seg["start"], seg["end"])
        slot = round(end - start, 6)
        text = seg["text"].strip()
        record = {"index": index, "start": start, "end": end, "source_start": seg["start"], "source_end": seg["end"],
                  "source_text": seg.get("source_text", ""), "text": text, "tempo": 1.0}
        if seg.get("speaker"):
            record["speaker"] = seg["speaker"]
        if seg.get("translated_by"):
            record["translated_by"] = seg["translated_by"]
        if index in rewritten:
            record.update(rewritten=True, first_text=seg["first_text"])
        if plan:
            record.update(natural_duration=plan.natural, borrowed_ms=plan.borrowed_ms, fit=plan.status)
            if plan.why:
                record["fit_why"] = plan.why
        if not text or slot <= 0:
            record.update(audio=None, audio_duration=0.0, skipped="nothing to say" if not text else "empty slot")
            lines.append(record)
            tick(1)
            continue
        reference = reference_of(seg)
        if reference:
            record["reference"] = str(reference)
        said = feeling.get(index, {})
        key = {"v": VERSION, "text": text, "slot": slot, "backend": backend, "voice": voice, "lang": lang, "rate": rate,
               "reference": sha256_file(reference) if reference else None, "fast": fast,
               **({"emotion": said.get("emotion"), "emotion_alpha": said.get("emotion_alpha"),
                   "emotion_wav": sha256_file(said["emotion_wav"]) if said.get("emotion_wav") else None}
                  if said else {})}
        path = item_path(cache, "lines", key, ".wav")
        meta_path = path.with_suffix(".json")
        if not (path.is_file() and meta_path.is_file()):
            try:
                speech = tts.synthesize(text, duration=slot, **voice_of(index))
            except TTSError as exc:
                record.update(audio=None, audio_duration=0.0, skipped=str(exc))
                lines.append(record)
                tick(1)
                continue
            write_wav(path, resample(speech.samples, speech.sample_rate, rate), rate)
            write_text_atomic(meta_path, json.dumps({"tokens": speech.tokens, "rate": round(speech.rate, 4),
                                                     "within_bounds": speech.within_bounds,
                                                     "phonemes": speech.phonemes}))
        meta = json.loads(meta_path.read_text())
        audio, _ = read_wav(path)
        record.update(audio=str(path), audio_duration=len(audio) / rate, speech_rate=meta["rate"],
                      within_bounds=meta["within_bounds"], tokens=meta["tokens"])
        lines.append(record)
        tick(1)
    return {"lines": lines, "sample_rate": rate}


@dataclass(frozen=True)
class EmotionOptions:
    """What a backend with its own emotion model (IndexTTS-2) hears each line with."""

    fixed: str | None = None  # one emotion for every line: a name, 8 weights "0,.8,...", or "auto" (from the text)
    dialogue: str | None = None  # the separated source dialogue: each line's own audio is its emotion
    alpha: float = 1.0  # how much of that emotion, against the voice's own


# An emotion prompt shorter than this is widened around the line: the model wants a second.
MIN_EMOTION_S = 1.0


def _line_emotions(cache: Path, segments: list[dict], spoken: list[int], options: EmotionOptions) -> dict:
    """Per line, the emotion arguments of ``synthesize``: the fixed emotion, or the line's
    own source audio cut from the dialogue (the emotion the actor actually used)."""
    if options.fixed is not None:
        spec: str | tuple = options.fixed
        try:  # "0,.8,0,0,0,0,0,.2": eight weights
            spec = tuple(float(w) for w in options.fixed.split(",")) if "," in options.fixed else spec
        except ValueError:
            pass  # a description, passed on as text
        return {i: {"emotion": spec, "emotion_alpha": options.alpha} for i in spoken}
    if not options.dialogue:
        return {}
    digest = sha256_file(options.dialogue)
    audio = None
    found = {}
    for i in spoken:
        seg = segments[i]
        start, end = seg.get("source_start", seg["start"]), seg.get("source_end", seg["end"])
        if end - start < MIN_EMOTION_S:
            middle = (start + end) / 2
            start, end = max(0.0, middle - MIN_EMOTION_S / 2), max(0.0, middle - MIN_EMOTION_S / 2) + MIN_EMOTION_S
        key = {"dialogue": digest, "start": round(start, 3), "end": round(end, 3)}
        path = item_path(cache, "emotion", key, ".wav")
        if not path.is_file():
            if audio is None:
                audio, rate = read_wav(options.dialogue)
                audio = audio if audio.ndim == 1 else audio.mean(axis=1)
            clip = audio[int(start * rate): int(end * rate)]
            if len(clip) < int(MIN_EMOTION_S * rate * 0.9):
                continue  # the programme ends first: the voice's own emotion
            write_wav(path, clip, rate)
        found[i] = {"emotion_wav": str(path), "emotion_alpha": options.alpha}
    return found


# Ask for a rewrite only when the pace is well outside the comfort band: small misfits
# are absorbed by borrowing and by the pace itself.
REWRITE_BELOW, REWRITE_ABOVE = 0.8, 1.5


def _rewrite_misfits(segments, usable, naturals, fitted, fit, programme_end, tts, rewrite, rewritten, voice_of):
    """Rewrite lines the plan could not fit (too long even after borrowing, or far too
    short for their slot), measure them again and re-plan the timeline."""
    from tts_core import TTSError

    naturals = list(naturals)
    changed = False
    for k, (i, line) in enumerate(zip(usable, fitted)):
        source_pace = (line.source_end - line.source_start) / line.natural
        too_long = line.status in ("fast", "over")
        too_short = line.status == "shortened" and source_pace > REWRITE_ABOVE
        if not (too_long or too_short):
            continue
        # Aim for the natural pace in the slot the line can have.
        room = (line.end - line.start) if too_long else (line.source_end - line.source_start) / 1.05
        factor = room / line.natural
        seg = segments[i]
        text = rewrite(seg["text"], seg.get("source_text", ""), factor)
        if not text or text == seg["text"]:
            continue
        try:
            natural = tts.natural_duration(text, **voice_of(i))
        except TTSError:
            continue
        seg["first_text"], seg["text"] = seg["text"], text
        naturals[k] = natural
        rewritten.add(i)
        changed = True
    if not changed:
        return fitted
    return fit_timeline([segments[i] for i in usable], naturals, fit, end_of_programme=programme_end)
