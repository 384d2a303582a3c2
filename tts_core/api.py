"""The public API: ``TTS.from_pretrained(...).synthesize(text, duration=...)``.

Shaped after IndexTTS2's usage: a target length is an input to generation, given in
seconds (``duration``), in the backend's own frames (``target_tokens``) or relative to
the natural length (``duration_scale``). The audio that comes back is exactly that long.
"""

from __future__ import annotations

import inspect
import wave
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .backends import base as registry
from .backends.base import Analysis, Backend
from .errors import EmptyTextError, UnknownBackendError, UnsupportedRequestError
from .files import atomic_path
from .planner import RATE_BOUNDS, plan_durations
from .prosody import EMOTIONS, Prosody, ProsodyStats, parse_emotion, prosody_from_reference
from .silence import trim_edges
from .voice import load_audio

# Lines whose text side is kept between planning a timeline and synthesising it.
ANALYSES_KEPT = 64
# The longest text one line may be. A minute of speech is about 900 characters; the models'
# alignments grow with characters x frames, so 10,000 characters would need gigabytes.
MAX_CHARACTERS = 1500

__all__ = ["EMOTIONS", "TTS", "Speech"]


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    tokens: int  # duration frames generated (the backend's token count)
    natural_tokens: float  # what the model would have generated on its own
    text: str
    phonemes: str = ""
    within_bounds: bool = True  # False: the rate was outside RATE_BOUNDS; re-plan the slot
    token_frames: tuple[int, ...] = field(default=(), repr=False)
    prosody: Prosody | None = None  # what emotion / voice matching asked of pitch and energy
    voice_similarity: float | None = None  # speaker-encoder similarity to speaker_wav, when given

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def rate(self) -> float:
        """Generated over natural length (1.0 = the model's own pace, <1 faster)."""
        return self.tokens / self.natural_tokens if self.natural_tokens else 1.0

    def pcm16(self) -> bytes:
        clipped = np.clip(self.samples, -1.0, 1.0)
        return (clipped * 32767.0).round().astype("<i2").tobytes()

    def save(self, path: str | Path) -> Path:
        """Write 16-bit PCM WAV (atomically: a failed write leaves no file)."""
        path = Path(path)
        with atomic_path(path, suffix=".wav") as tmp:
            with wave.open(str(tmp), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(self.sample_rate)
                w.writeframes(self.pcm16())
        return path


class TTS:
    """A loaded voice with duration control."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self._analyses: OrderedDict[tuple, Analysis] = OrderedDict()

    @classmethod
    def from_pretrained(cls, name: str | Path = "piper", *, voice: str | Path | None = None, device: str = "cpu",
                        lang: str | None = None, **options) -> "TTS":
        """``name`` is a backend ("piper", "kokoro", "indextts2"), a voice file / voice name
        for Piper, or a folder of IndexTTS-2 weights. ``voice`` is the backend's voice or
        model (IndexTTS-2: its weights folder; the hub copy when None). ``lang`` (ISO 639-1)
        is checked against the voice, or picks the language of a multilingual backend.
        ``options`` go to the backend's ``load`` (IndexTTS-2: ``fast=True``)."""
        name_str = str(name)
        if options:
            backend_cls = registry.get_backend(name_str if name_str in registry.backend_names() else "indextts2")
            known = inspect.signature(backend_cls.load).parameters
            unknown = [k for k in options if k not in known or k in ("source", "device", "lang")]
            if unknown:
                raise UnsupportedRequestError(f"the {backend_cls.name} backend has no {', '.join(unknown)} option")
        if Path(name_str).is_dir() and (Path(name_str) / "config.yaml").is_file():
            return cls(registry.get_backend("indextts2").load(name_str, device=device, lang=lang, **options))
        if name_str in registry.backend_names():
            backend_cls = registry.get_backend(name_str)
            source = voice
        else:
            backend_cls = registry.get_backend("piper")
            source = name
            try:
                return cls(backend_cls.load(source, device=device, lang=lang, **options))
            except UnknownBackendError as exc:
                raise UnknownBackendError(
                    f"{name_str!r} is neither a TTS backend ({', '.join(registry.backend_names())}) "
                    f"nor a voice: {exc}"
                ) from None
        return cls(backend_cls.load(source, device=device, lang=lang, **options))

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate

    @property
    def token_rate(self) -> float:
        return self.backend.token_rate

    def _target_samples(self, duration, target_tokens, duration_scale, natural: float) -> int | None:
        given = [x is not None for x in (duration, target_tokens, duration_scale)]
        if sum(given) > 1:
            raise UnsupportedRequestError("give at most one of duration, target_tokens and duration_scale")
        hop = self.backend.hop_length
        if duration is not None:
            if duration <= 0:
                raise UnsupportedRequestError(f"duration must be positive, got {duration}")
            return int(round(duration * self.sample_rate))
        if target_tokens is not None:
            if target_tokens < 1:
                raise UnsupportedRequestError(f"target_tokens must be at least 1, got {target_tokens}")
            return int(int(target_tokens) * self.backend.frames_per_token) * hop
        if duration_scale is not None:
            if duration_scale <= 0:
                raise UnsupportedRequestError(f"duration_scale must be positive, got {duration_scale}")
            return int(round(natural * duration_scale)) * hop
        return None

    def synthesize(
        self,
        text: str,
        *,
        duration: float | None = None,
        target_tokens: int | None = None,
        duration_scale: float | None = None,
        speaker_wav: str | Path | None = None,
        emotion: Sequence[float] | str | None = None,
        emotion_wav: str | Path | None = None,
        emotion_alpha: float = 1.0,
        seed: int = 0,
    ) -> Speech:
        """``emotion``: 8 weights (``EMOTIONS``), "auto" (from the text) or a description;
        ``emotion_wav``: a recording whose emotion to take. A backend with its own emotion
        model (``supports_emotion="model"``) conditions on them, blended with the voice's
        own by ``emotion_alpha``; the others turn them into pitch and energy."""
        if not text or not text.strip():
            raise EmptyTextError("empty text: give something to say")
        backend = self.backend
        if speaker_wav is not None and not backend.supports_voice_reference:
            raise UnsupportedRequestError(
                f"the {backend.name} backend cannot follow a voice reference (kokoro can)"
            )
        if (emotion is not None or emotion_wav is not None) and backend.supports_emotion == "none":
            raise UnsupportedRequestError(f"the {backend.name} backend has no emotion control (kokoro has)")
        if not backend.supports_target_tokens and target_tokens is not None:
            raise UnsupportedRequestError(f"the {backend.name} backend has no tokens to count; give a duration")

        voice_args, prosody, match = {}, Prosody(), None
        if speaker_wav is not None:
            voice_args, prosody, match = backend.reference_voice(speaker_wav)
        if backend.supports_emotion == "model":
            voice_args = {**voice_args, **_emotion_args(emotion, emotion_wav, emotion_alpha)}
        elif emotion_wav is not None:
            emo_audio, emo_rate = load_audio(emotion_wav)
            neutral = ProsodyStats.of(*load_audio(speaker_wav)) if speaker_wav is not None else None
            prosody = prosody.combine(prosody_from_reference(ProsodyStats.of(emo_audio, emo_rate), neutral))
        if emotion is not None and backend.supports_emotion != "model":
            prosody = prosody.combine(parse_emotion(emotion, text))

        analysis = self._analyse(text, seed, speaker_wav, voice_args)
        natural, base, (lead, tail) = self._speech_of(analysis)
        speech = trim_edges(base, lead, tail)  # what each token says, its edge silence left out
        samples_wanted = self._target_samples(duration, target_tokens, duration_scale, natural)
        hop = backend.hop_length
        # The nearest whole frame count (free length: the speech's own), then less than one
        # frame of samples is padded or trimmed so the length is exact to the sample.
        if samples_wanted is None:
            frames_target = max(1, int(round(natural)))
            samples_wanted = frames_target * hop
        else:
            frames_target = max(1, int(round(samples_wanted / hop)))
        # Beyond the slowest pace that still sounds like speech, the rest of the slot is
        # silence after the line rather than drawl (the fit planner does the same per slot).
        speech_frames = min(frames_target, max(1, int(natural * RATE_BOUNDS[1])))
        plan = plan_durations(base, analysis.kinds, speech_frames, rate_bounds=RATE_BOUNDS, reference=natural,
                              elasticity=backend.elasticity, edge=base - speech)
        frames = plan.durations if backend.fractional_frames else plan.frames
        # A few frames of the voice's own edge silence are rendered around the speech, so the
        # decoder does not fade its first and last sounds, and cut off after.
        context = (min(backend.edge_context, int(lead)), min(backend.edge_context, int(tail)))
        frames = frames + trim_edges(base, lead - context[0], tail - context[1]) - speech
        audio = backend.render(analysis, frames, seed=seed, prosody=None if prosody.is_neutral else prosody,
                               edges=(lead - context[0], tail - context[1]))
        audio = _fit(audio[context[0] * hop: len(audio) - context[1] * hop], samples_wanted)
        within = plan.within_bounds and speech_frames == frames_target
        return Speech(
            samples=audio,
            sample_rate=backend.sample_rate,
            tokens=frames_target,
            natural_tokens=natural,
            text=text,
            phonemes=analysis.phonemes,
            within_bounds=within,
            token_frames=tuple(int(f) for f in plan.frames),
            prosody=None if prosody.is_neutral else prosody,
            voice_similarity=match.similarity if match is not None else None,
        )

    def prepare_voice(self, speaker_wav: str | Path) -> None:
        """Do now what the first line asked in the voice of ``speaker_wav`` would do first
        (Kokoro: match a voice and pitch to it), so a caller can overlap it with other work;
        later lines in that voice find it done. Nothing for a backend that cannot follow one."""
        if self.backend.supports_voice_reference:
            self.backend.reference_voice(speaker_wav)

    def natural_duration(self, text: str, *, speaker_wav: str | Path | None = None, seed: int = 0,
                         emotion: Sequence[float] | str | None = None, emotion_wav: str | Path | None = None,
                         emotion_alpha: float = 1.0) -> float:
        """Seconds of speech the voice would say on its own, without the silence the model
        pads it with (runs the text side of the model; Piper also renders the line once to
        find that silence). With ``speaker_wav``, the voice matched to it: voices differ in
        pace (measured up to 20 % between bundled Kokoro voices on the same line), so a plan
        made with another voice's length would ask the matched one for a pace nobody planned."""
        voice_args = {}
        if speaker_wav is not None and self.backend.supports_voice_reference:
            voice_args, _, _ = self.backend.reference_voice(speaker_wav)
        if self.backend.supports_emotion == "model":  # its emotion changes what it generates
            voice_args = {**voice_args, **_emotion_args(emotion, emotion_wav, emotion_alpha)}
        natural, _, _ = self._speech_of(self._analyse(text, seed, speaker_wav, voice_args))
        return max(1, int(round(natural))) / self.token_rate  # the free-length rendition's whole frames

    def _analyse(self, text: str, seed: int, speaker_wav, voice_args: dict) -> Analysis:
        """The text side of a line, kept for the last few lines: a dub asks for each line's
        natural length when it plans the timeline, then synthesises the same line."""
        if len(text) > MAX_CHARACTERS:
            raise UnsupportedRequestError(f"a line of {len(text):,} characters is longer than one line can be "
                                          f"({MAX_CHARACTERS:,}): split the text into lines")
        key = (text, seed, None if speaker_wav is None else str(speaker_wav),
               repr(sorted((k, v) for k, v in voice_args.items() if k.startswith("emotion"))))
        if key in self._analyses:
            self._analyses.move_to_end(key)
            return self._analyses[key]
        analysis = self.backend.analyse(text, seed=seed, **voice_args)
        self._analyses[key] = analysis
        if len(self._analyses) > ANALYSES_KEPT:
            self._analyses.popitem(last=False)
        return analysis

    def _speech_of(self, analysis: Analysis) -> tuple[float, np.ndarray, tuple[float, float]]:
        """(natural length of the speech in frames, the durations to plan from, the frames of
        edge silence before and after the speech). The natural length is the voice's own
        rendition less the silence it pads the speech with, so a line's pace and slot are
        those of its words."""
        backend = self.backend
        own = backend.whole_frames(analysis.natural).astype(np.float64)
        lead, tail = backend.edge_frames(analysis)
        speech = trim_edges(own, lead, tail)
        natural = float(speech.sum())
        base = own
        if backend.fractional_frames and backend.plan_from_natural:
            # Kokoro plans from the model's unrounded durations: measured (Spanish, 1.4x
            # pace) Whisper WER 36.9 % against 42.8 % planned from the rounded ones,
            # which had already lost each token's fraction.
            base = np.asarray(analysis.natural, dtype=np.float64)
        return natural, base, (lead, tail)

    def batch_synthesize(
        self,
        texts: Sequence[str],
        *,
        durations: Sequence[float | None] | None = None,
        seed: int = 0,
        **kwargs,
    ) -> list[Speech]:
        if durations is not None and len(durations) != len(texts):
            raise UnsupportedRequestError(f"{len(texts)} texts but {len(durations)} durations")
        durations = durations if durations is not None else [None] * len(texts)
        return [self.synthesize(t, duration=d, seed=seed, **kwargs) for t, d in zip(texts, durations)]


def _emotion_args(emotion, emotion_wav, alpha: float) -> dict:
    """What a backend with an emotion model is given (nothing when nothing was asked)."""
    args = {}
    if emotion is not None:
        args["emotion"] = emotion if isinstance(emotion, str) else tuple(float(w) for w in emotion)
    if emotion_wav is not None:
        args["emotion_wav"] = str(emotion_wav)
    if args:
        args["emotion_alpha"] = float(alpha)
    return args


def _fit(audio: np.ndarray, samples: int) -> np.ndarray:
    """Pad with silence or trim the tail (by less than one frame) to exactly ``samples``;
    speech capped at the slowest pace is padded by the rest of its slot."""
    if len(audio) == samples:
        return audio
    if len(audio) < samples:
        return np.concatenate([audio, np.zeros(samples - len(audio), dtype=audio.dtype)])
    out = audio[:samples].copy()
    fade = min(64, len(out))  # a trimmed tail must not end in a click
    out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=out.dtype)
    return out
