"""Stage 3: transcribe the dialogue into timed dubbing segments.

ASR engines are looked up by name (``--asr``) and return the same typed words; the
segmentation into dubbing units and the snapping of their edges to voice activity are
shared."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from tts_core.registry import Registry

from .errors import BackendError, UnknownLanguageError
from .media import decode_audio

from . import whisper_model

VERSION = "7"
ASR_RATE = 16_000
SENTENCE_END = (".", "?", "!", "。", "？", "！")


def whisper_languages() -> tuple[str, ...]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(sorted(_LANGUAGE_CODES))


def check_language(code: str) -> str:
    code = code.strip().lower()
    if code not in whisper_languages():
        raise UnknownLanguageError(
            f"unknown language {code!r}: use an ISO 639-1 code Whisper knows ({', '.join(whisper_languages())})"
        )
    return code


def split_words(words: list[dict], max_gap: float = 0.8, max_len: float = 12.0, min_len: float = 1.0) -> list[list[dict]]:
    """Cut a word stream into dubbing units: at every sentence end, at long pauses, and
    before a unit grows past ``max_len`` seconds. Whisper stretches a word across the
    silence before it, so a sentence end splits even when no gap shows in its times.
    A unit shorter than ``min_len`` joins the next one."""
    units: list[list[dict]] = []
    current: list[dict] = []
    for word in words:
        if current:
            gap = word["start"] - current[-1]["end"]
            ends_sentence = current[-1]["word"].strip().endswith(SENTENCE_END)
            long_enough = current[-1]["end"] - current[0]["start"] >= min_len
            too_long = word["end"] - current[0]["start"] > max_len
            if gap >= max_gap or (ends_sentence and long_enough) or too_long:
                units.append(current)
                current = []
        current.append(word)
    if current:
        units.append(current)
    return units


def speech_regions(speech16k: np.ndarray) -> list[tuple[float, float]]:
    """Where someone is speaking, from the Silero VAD that faster-whisper carries (ONNX)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=0.5, min_speech_duration_ms=120, min_silence_duration_ms=250, speech_pad_ms=30)
    return [(r["start"] / ASR_RATE, r["end"] / ASR_RATE) for r in get_speech_timestamps(speech16k, options)]


def voiced_share(start: float, end: float, regions: list[tuple[float, float]]) -> float:
    """The share of [start, end] that the VAD marks as voice."""
    if end <= start:
        return 0.0
    voiced = sum(max(0.0, min(b, end) - max(a, start)) for a, b in regions)
    return voiced / (end - start)


def snap(start: float, end: float, regions: list[tuple[float, float]], reach: float = 0.5) -> tuple[float, float]:
    """Move a unit's edges to where the voice really starts and stops.

    Whisper pads its times into the surrounding silence and stretches a word over the
    pause before it; the VAD does not. The start moves to the first voice onset inside
    the unit (or up to ``reach`` before it), the end to the last voice offset inside it
    (or up to ``reach`` after it). A voice region that began well before the unit
    belongs to the line before and does not pull the start back."""
    onsets = [a for a, _ in regions if start - reach <= a < end]
    offsets = [b for _, b in regions if start < b <= end + reach]
    new_start = onsets[0] if onsets else start
    new_end = offsets[-1] if offsets else end
    if new_end - new_start < 0.2:
        return start, end
    return new_start, new_end


@dataclass(frozen=True)
class Transcript:
    """What every ASR backend returns: words with times, and the language it heard."""

    language: str
    language_probability: float
    words: list[dict]  # {"start", "end", "word", "p"}; "word" keeps its leading space


class ASRBackend:
    """An ASR engine: ``transcribe`` for timed words, ``translate`` for English text."""

    name: ClassVar[str]

    def transcribe(self, speech16k: np.ndarray, language: str | None, tick: Callable[[int], None]) -> Transcript:
        raise NotImplementedError

    def translate(self, clip16k: np.ndarray, language: str, temperature: float = 0.0) -> str:
        raise NotImplementedError


class FasterWhisper(ASRBackend):
    """Whisper through CTranslate2: the bundled base model offline, any name or folder."""

    name = "faster-whisper"

    def __init__(self, model: str, device: str):
        self.model = whisper_model.load(model, device)

    def transcribe(self, speech16k, language, tick):
        segments, info = self.model.transcribe(
            speech16k, language=language, task="transcribe", beam_size=5, word_timestamps=True,
            vad_filter=True, condition_on_previous_text=False,
        )
        words: list[dict] = []
        seen = 0
        for segment in segments:
            for w in segment.words or []:
                if w.word.strip():
                    words.append({"start": float(w.start), "end": float(w.end), "word": w.word, "p": float(w.probability)})
            tick(max(0, int(segment.end) - seen))
            seen = max(seen, int(segment.end))
        return Transcript(info.language, float(info.language_probability), words)

    def translate(self, clip16k, language, temperature=0.0):
        pieces, _ = self.model.transcribe(
            clip16k, language=language, task="translate", beam_size=5, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False, temperature=temperature,
        )
        return " ".join(p.text.strip() for p in pieces).strip()


# Engines register by "module:Class": a module is imported only when its engine is used.
ENGINES: Registry[type[ASRBackend]] = Registry("asr", "ASR backend", BackendError)
ENGINES.register_lazy("faster-whisper", "pipelines.asr:FasterWhisper")
ENGINES.register_lazy("openai-whisper", "pipelines.asr_openai:OpenAIWhisper")


def check_backend(name: str) -> None:
    if name not in ENGINES:
        ENGINES.get(name)  # raises, listing the known names


def get_asr(name: str, model: str, device: str) -> ASRBackend:
    check_backend(name)
    return _load_asr(name, model, device)


@functools.lru_cache(maxsize=2)
def _load_asr(name: str, model: str, device: str) -> ASRBackend:
    return ENGINES.get(name)(model, device)


def load_speech(wav: Path) -> np.ndarray:
    """A WAV as the mono 16 kHz float32 signal Whisper, the VAD and the speaker encoder take.
    ffmpeg downmixes and resamples as it reads, so an hour holds 230 MB, never the 48 kHz
    programme (1.4 GB an hour in stereo)."""
    return decode_audio(wav, ASR_RATE, 1)


class Ahead:
    """Whisper's words for a file, heard in a thread while the caller does other work.

    Whisper hears the programme, not the separated dialogue, so it need not wait for the
    separator: a dub starts it before separating (on two cores the two overlap by most of the
    shorter one) and ``transcribe`` takes its words. A daemon thread, so a run that fails
    meanwhile exits without waiting for it."""

    def __init__(self, wav: Path, backend: str, model_name: str, language: str | None, device: str):
        self.args = (Path(wav), backend, model_name, language, device)
        self._done = threading.Event()
        self._result: tuple[np.ndarray, Transcript] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._hear, name="whisper-ahead", daemon=True).start()

    def _hear(self) -> None:
        try:
            wav, backend, model_name, language, device = self.args
            speech = load_speech(wav)
            self._result = speech, get_asr(backend, model_name, device).transcribe(speech, language, lambda n=1: None)
        except BaseException as exc:  # handed to the thread that takes the result
            self._error = exc
        finally:
            self._done.set()

    def take(self, *args) -> tuple[np.ndarray, Transcript] | None:
        """The speech and words, when heard with these arguments (None otherwise); waits."""
        if tuple(args) != self.args:
            return None
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


def transcribe(dialogue_wav: Path, backend: str, model_name: str, language: str | None, device: str,
               progress: Callable[[str, int], Callable[[int], None]], voice_wav: Path | None = None,
               ahead: Ahead | None = None) -> dict:
    """Timed dubbing units of ``dialogue_wav``. ``voice_wav`` (the separated dialogue, when
    Whisper hears the whole programme) is listened to by the VAD too: music masks where a
    voice starts, and a line's slot starts there. ``ahead``: Whisper already started on it."""
    heard = ahead.take(Path(dialogue_wav), backend, model_name, language, device) if ahead is not None else None
    if heard is not None:
        speech, result = heard
    else:
        speech = load_speech(dialogue_wav)
        asr = get_asr(backend, model_name, device)
        tick = progress("transcribing", max(1, int(len(speech) / ASR_RATE)))
        result = asr.transcribe(speech, language, tick)
    regions = speech_regions(speech)
    # Measured on a two-voice conversation 12 dB over music (bench.fit): the programme's VAD
    # started 3 of 7 lines 97-192 ms after the voice; heard with the dialogue's, 2 of those
    # start within 33 ms (the third stays 105 ms late in both).
    onsets = sorted(regions + speech_regions(load_speech(voice_wav))) if voice_wav is not None else regions
    out: list[dict] = []
    for unit in split_words(result.words):
        text = "".join(w["word"] for w in unit).strip()
        if regions and voiced_share(unit[0]["start"], unit[-1]["end"], regions) < 0.3:
            continue  # words where the VAD hears (almost) no voice: Whisper's hallucination in silence
        start, end = snap(unit[0]["start"], unit[-1]["end"], onsets)
        if out and start < out[-1]["end"]:  # snapping never makes two lines overlap
            start = out[-1]["end"]
        out.append({"start": round(start, 3), "end": round(end, 3), "text": text, "words": unit})
    return {"language": result.language, "language_probability": result.language_probability,
            "duration": float(len(speech) / ASR_RATE), "segments": out}


def segment_audio(speech16k: np.ndarray, start: float, end: float, margin: float = 0.15) -> np.ndarray:
    a = max(0, int((start - margin) * ASR_RATE))
    b = min(len(speech16k), int((end + margin) * ASR_RATE))
    return speech16k[a:b]
