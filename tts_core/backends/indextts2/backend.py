"""IndexTTS-2 as a backend of the duration-controlled core: the voice cloned from a
reference clip, the emotion from a vector, a recording or text, the length exact.

How it meets the core's two halves: ``analyse`` runs the GPT, whose semantic codes are
the tokens (each 1.72 mel frames at the voice's own pace, as the release renders them);
``render`` stretches those codes to the planned number of mel frames in the length
regulator (which interpolates over the whole line, so only the total counts:
``length_control = "rate"``), then runs flow matching and the vocoder. The GPT's silent
code at either end of a line is the model's edge silence, which the planner gives no time.
torch is imported when a model is loaded, so registering the backend costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import UnsupportedRequestError
from ...prosody import EMOTIONS, LEXICON, emotion_vector
from ..base import Analysis, Backend, register

# The code the official release treats as silence (``remove_long_silence(silent_token=52)``).
SILENT_CODE = 52
FRAMES_PER_CODE = 1.72


@register
class IndexTTS2Backend(Backend):
    name = "indextts2"
    languages = ("zh", "en")
    bundled = False  # the weights are downloaded by the user: never a default
    cpu_speed = ("about 15 s of compute per second of speech on 2 cores, 4 s with --tts-fast: "
                 "python -m bench.indextts2")
    supports_target_tokens = True
    length_control = "rate"
    supports_voice_reference = True
    supports_emotion = "model"
    fractional_frames = True
    frames_per_token = FRAMES_PER_CODE  # target_tokens counts semantic codes (50 a second)
    sample_rate = 22050
    hop_length = 256

    def __init__(self, model: Any, *, lang: str):
        self.model = model
        self.lang = lang

    @classmethod
    def load(cls, source: str | Path | None, *, device: str = "cpu", lang: str | None = None,
             fast: bool = False) -> "IndexTTS2Backend":
        """``source``: a folder like the official release, or None / "IndexTeam/IndexTTS-2"
        for the hub copy. ``fast``: one GPT beam and fewer flow-matching steps."""
        lang = lang or "en"
        if lang not in cls.languages:
            raise UnsupportedRequestError(_language_error(lang))
        from .checkpoints import resolve

        layout = resolve(source)
        try:
            from . import pipeline
        except ImportError as exc:
            raise UnsupportedRequestError(
                f"the indextts2 backend needs torch and transformers ({exc.name} is missing): "
                "pip install 'dub[indextts2]' after the CPU torch wheel") from None
        settings = pipeline.FAST if fast else pipeline.OFFICIAL
        if str(device).startswith("cuda"):  # the GPT in half precision, as the release offers on a GPU
            settings = replace(settings, fp16=True)
        return cls(pipeline.IndexTTS2(layout, device=device, settings=settings), lang=lang)

    # -- voice and emotion --------------------------------------------------------------

    def reference_voice(self, reference: str | Path) -> tuple[dict, Any, Any]:
        from ...prosody import Prosody

        return {"speaker_wav": reference}, Prosody(), None

    def _emovec(self, text: str, speaker, emotion, emotion_wav, emotion_alpha: float):
        vector = None
        if emotion is not None:
            vector = self._emotion_weights(emotion, text)
        return self.model.emovec(speaker, emotion_wav=emotion_wav if vector is None else None,
                                 vector=vector, alpha=emotion_alpha)

    def _emotion_weights(self, spec, text: str) -> list[float]:
        """8 weights from a vector, an emotion's name or words for it, or the Qwen emotion
        model on the line ("auto") or on a description the words do not cover."""
        if not isinstance(spec, str):
            return [float(w) for w in emotion_vector(spec)]
        if spec == "auto":
            return self.model.emotion_from_text(text)
        lowered = spec.lower()
        named = [float(any(re.search(rf"\b{re.escape(w)}", lowered) for w in (name, *LEXICON[name])))
                 for name in EMOTIONS]
        if any(named):
            return named
        return self.model.emotion_from_text(spec)

    # -- the two halves -----------------------------------------------------------------

    def analyse(self, text: str, *, seed: int = 0, speaker_wav: str | Path | None = None,
                emotion: Sequence[float] | str | None = None, emotion_wav: str | Path | None = None,
                emotion_alpha: float = 1.0, **_) -> Analysis:
        if speaker_wav is None:
            raise UnsupportedRequestError(
                "indextts2 clones a voice: give a recording of the speaker (--voice speaker.wav, speaker_wav=)")
        speaker = self.model.speaker(speaker_wav)
        emovec = self._emovec(text, speaker, emotion, emotion_wav, emotion_alpha)
        found = self.model.codes(text, speaker, emovec, seed=seed, language=self.lang)
        codes = found.codes[0].tolist()
        if not codes:
            raise UnsupportedRequestError(f"IndexTTS-2 generated no speech for {text!r}")
        kinds = tuple("pause" if c == SILENT_CODE else "vowel" for c in codes)
        natural = np.full(len(codes), FRAMES_PER_CODE)
        return Analysis(text=text, phonemes=" ".join(map(str, codes)), kinds=kinds, natural=natural,
                        state={"codes": found, "speaker": speaker})

    def whole_frames(self, natural: np.ndarray) -> np.ndarray:
        """The release's own length, ``int(codes * 1.72)`` frames, spread over the codes."""
        ends = np.floor(np.cumsum(np.asarray(natural, dtype=np.float64)) + 1e-9).astype(np.int64)
        return np.diff(np.concatenate([[0], ends]))

    def render(self, analysis: Analysis, frames: np.ndarray, *, seed: int = 0, prosody=None,
               edges: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float64).reshape(-1)
        if len(frames) != len(analysis.kinds):
            raise UnsupportedRequestError("frame counts do not match the analysed codes")
        total = int(round(frames.sum()))
        keep = _speech_codes(self.whole_frames(analysis.natural), *edges)
        mel = self.model.mel(analysis.state["codes"], analysis.state["speaker"], total, keep=keep, seed=seed)
        wave = self.model.waveform(mel)
        wanted = total * self.hop_length
        if len(wave) != wanted:  # the vocoder gives hop samples a frame; anything else is a bug
            raise RuntimeError(f"vocoder returned {len(wave)} samples for {total} frames")
        return wave.astype(np.float32)


def _speech_codes(own: np.ndarray, lead: float, tail: float) -> slice:
    """The codes left once ``lead`` and ``tail`` frames of edge silence are taken away
    (edge silence is counted in whole codes, see ``Backend.edge_frames``)."""
    ends = np.cumsum(own)
    first = int(np.searchsorted(ends, lead + 1e-9, side="right"))
    starts = ends - own
    last = int(np.searchsorted(starts, ends[-1] - tail - 1e-9, side="left"))
    if last <= first:  # all silence: keep the line as it is
        return slice(None)
    return slice(first, last)


def _language_error(lang: str) -> str:
    from .. import base

    # A backend that lists no languages (espeak) speaks whatever its engine has a voice for.
    others = [f"--tts {name}" for name in base.backend_names()
              if lang in base.get_backend(name).languages or not base.get_backend(name).languages]
    return f"IndexTTS-2 speaks Chinese and English (zh, en), not {lang!r}: try {' or '.join(others)}"
