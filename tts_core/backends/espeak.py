"""espeak-ng as a last resort: any language it has, robotic but intelligible.

espeak-ng (GPL-3.0) runs as a separate program. It takes no per-phoneme durations, so
its length is controlled by its speaking rate: the rate is searched until the speech
fits just inside the target, and the remainder (a few frames at most) is silence after it.
espeak-ng pads its speech with silence at both ends; every take is cut to its speech
(``tts_core.silence``), so the natural length and the fit are those of the words.
``supports_target_tokens`` is False: lengths are exact to the sample, but they come from
rate control, not from generation per token.
"""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import numpy as np

from ..errors import EmptyTextError, UnsupportedRequestError
from ..phonemize import espeak_binary, espeak_voices
from ..silence import speech_span
from .base import Analysis, Backend, register

DEFAULT_WPM = 175
# espeak-ng names some languages differently from ISO 639-1.
VOICE_FOR = {"zh": "cmn", "en": "en-us", "pt": "pt-br"}


def _voice(lang: str) -> str:
    voice = VOICE_FOR.get(lang, lang)
    if voice not in espeak_voices():
        raise UnsupportedRequestError(f"espeak-ng has no voice for {lang!r}")
    return voice


@register
class EspeakBackend(Backend):
    name = "espeak"
    languages = ()  # filled from the installed espeak-ng voices on load
    default_rank = 2
    supports_target_tokens = False
    length_control = "rate"
    supports_voice_reference = False
    supports_emotion = "none"
    sample_rate = 22_050
    hop_length = 256

    def __init__(self, lang: str):
        self.lang = lang
        self.voice = _voice(lang)
        self.languages = tuple(sorted({v.split("-")[0] for v in espeak_voices() if len(v.split("-")[0]) == 2}))

    @classmethod
    def load(cls, source: str | Path | None = None, *, device: str = "cpu", lang: str | None = None) -> "EspeakBackend":
        return cls(lang or (str(source) if source else "en"))

    def speak(self, text: str, wpm: int) -> np.ndarray:
        proc = subprocess.run([espeak_binary(), "-v", self.voice, "-s", str(int(wpm)), "--stdout", "--", text],
                              capture_output=True, check=False)
        if proc.returncode != 0 or not proc.stdout:
            raise UnsupportedRequestError(f"espeak-ng failed: {proc.stderr.decode(errors='replace').strip()}")
        with wave.open(io.BytesIO(proc.stdout)) as w:
            rate = w.getframerate()
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        if rate != self.sample_rate:
            raise UnsupportedRequestError(f"espeak-ng wrote {rate} Hz audio, expected {self.sample_rate}")
        span = speech_span(audio, rate)
        return audio if span is None else audio[span[0]: span[1]]

    def analyse(self, text: str, *, seed: int = 0, **voice) -> Analysis:
        if not any(c.isalnum() for c in text):
            raise EmptyTextError(f"nothing to say in {text!r}")
        audio = self.speak(text, DEFAULT_WPM)
        # One token for the whole line: its length is all the planner can change.
        return Analysis(text=text, phonemes="", kinds=("vowel",), natural=np.array([len(audio) / self.hop_length]),
                        state={"natural_audio": audio})

    def render(self, analysis: Analysis, frames: np.ndarray, *, seed: int = 0, prosody=None,
               edges: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        target = int(np.sum(frames)) * self.hop_length
        natural = analysis.state["natural_audio"]
        best = natural
        wpm = DEFAULT_WPM * len(natural) / target
        for _ in range(5):  # length is close to inversely proportional to the rate
            wpm = float(np.clip(wpm, 80, 450))
            audio = self.speak(analysis.text, round(wpm))
            if len(audio) <= target and (len(best) > target or len(audio) > len(best)):
                best = audio
            if target - self.hop_length * 2 <= len(audio) <= target:
                break
            wpm *= len(audio) / (target * 0.99)
        if len(best) > target:  # even the fastest rate overflows (the take is speech already)
            raise UnsupportedRequestError(
                f"{len(analysis.text.split())} words do not fit in {target / self.sample_rate:.2f}s "
                "even at espeak-ng's fastest rate"
            )
        return np.concatenate([best, np.zeros(target - len(best), np.float32)])
