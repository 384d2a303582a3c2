"""Approach a reference speaker without cloning weights (none ship offline).

For a backend with several voices in one style space (Kokoro), the bundled voices and
blends of the closest ones are scored against the reference with a speaker encoder
(resemblyzer, weights inside its wheel), and the reference's pitch level is matched
through the predicted pitch curve. The result is the closest the bundled voices get, not
the speaker's own voice: the similarity is reported so callers can see how close.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelFileError, UnsupportedRequestError
from .files import atomic_path, cache_root, sha256_file, write_text_atomic
from .prosody import Prosody, ProsodyStats

PROBE_TEXT = {
    "en": "I was thinking about what you told me, and you are right.",
    "es": "Estaba pensando en lo que me dijiste, y tienes razón.",
    "fr": "Je pensais à ce que tu m'as dit hier, et je crois que tu as raison.",
    "it": "Stavo pensando a quello che mi hai detto ieri, e credo che tu abbia ragione.",
    "pt": "Eu estava pensando no que você me disse ontem, e acho que você tem razão.",
    "hi": "मैं सोच रहा था कि तुमने कल मुझसे क्या कहा था, और मुझे लगता है कि तुम सही हो।",
}
MATCH_VERSION = "3"


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 audio from a file (WAV, FLAC, OGG, MP3 through libsndfile)."""
    import soundfile as sf

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError on non-audio
        raise UnsupportedRequestError(f"cannot read {path} as audio ({exc}); give a WAV, FLAC, OGG or MP3 file") from exc
    mono = audio.mean(axis=1)
    if len(mono) < rate // 2:
        raise UnsupportedRequestError(f"{path} is shorter than half a second: give a few seconds of speech")
    return mono, int(rate)


_ENCODER_LOCK = threading.Lock()


def _resemblyzer():
    # A dub may warm the encoder in a thread while diarization asks for it: one load.
    with _ENCODER_LOCK:
        return _load_resemblyzer()


@functools.lru_cache(maxsize=1)
def _load_resemblyzer():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # webrtcvad's pkg_resources deprecation notice
            import resemblyzer
    except ImportError as exc:
        raise ModelFileError(
            "voice matching needs the speaker encoder: pip install resemblyzer 'setuptools<81' (scripts/setup does)"
        ) from exc
    return resemblyzer, resemblyzer.VoiceEncoder(device="cpu", verbose=False)


def embed(audio: np.ndarray, rate: int) -> np.ndarray:
    """A unit-length speaker embedding (resemblyzer, 256-d)."""
    resemblyzer, encoder = _resemblyzer()
    at_16k = to_16k(np.asarray(audio, dtype=np.float32), rate)
    wav = resemblyzer.preprocess_wav(at_16k)  # no source_sr: resampled above, and librosa never imported
    if len(wav) < 16_000 // 2:  # mostly silence after trimming: use it whole, at the encoder's 16 kHz
        wav = at_16k
    return utterance_embedding(encoder, wav)


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """The speaker encoder's 16 kHz, as resemblyzer's ``preprocess_wav`` resamples (librosa's
    default: soxr at high quality, cut or zero-padded to ceil(n * 16000 / rate) samples) but
    without importing librosa's audio module (1.7 s here, more than a match's own work)."""
    if rate == 16_000:
        return audio
    import soxr

    n = int(np.ceil(len(audio) * 16_000 / rate))
    out = soxr.resample(audio, rate, 16_000, quality="soxr_hq")[:n]
    return np.pad(out, (0, n - len(out))).astype(audio.dtype) if len(out) < n else out.astype(audio.dtype)


def utterance_embedding(encoder, wav: np.ndarray) -> np.ndarray:
    """resemblyzer's ``embed_utterance`` (1.6 s partials, 1.3 a second, the mean of their
    embeddings), with the mel frames from ``tts_core.melspec``: the same numbers without the
    2 s import of librosa's spectral module."""
    import torch

    from .melspec import mel_frames

    wav_slices, mel_slices = encoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
    if wav_slices[-1].stop >= len(wav):
        wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
    mel = mel_frames(wav)
    with torch.no_grad():
        partials = encoder(torch.from_numpy(np.array([mel[s] for s in mel_slices])).to(encoder.device)).cpu().numpy()
    raw = partials.mean(axis=0)
    return raw / np.linalg.norm(raw)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@dataclass(frozen=True)
class VoiceMatch:
    weights: dict[str, float]  # voice name -> blend weight
    pitch_hz: float | None  # median pitch imposed on the voice (None: its own)
    similarity: float  # speaker-encoder similarity of the chosen voice to the reference
    default_similarity: float  # the same for the backend's default voice
    candidates: list[tuple[str, float]] = field(default_factory=list)  # what was tried

    @property
    def prosody(self) -> Prosody:
        return Prosody(pitch_hz=self.pitch_hz)


def _speak(backend, style: np.ndarray, prosody: Prosody | None, text: str) -> np.ndarray:
    analysis = backend.analyse(text, style=style)
    return backend.render(analysis, backend.whole_frames(analysis.natural), prosody=prosody)


def _voice_embedding(backend, style: np.ndarray, text: str) -> np.ndarray:
    """The speaker embedding of a voice (or blend) speaking the probe text at its own pitch.

    It depends on the voice, the model and the text, never on the reference, so it is kept
    on disk: a match then synthesises only the pitch-moved candidate, and a dub's first
    speaker costs ~1 synthesis instead of ~9 once the voices have been heard on this machine."""
    digest = hashlib.sha256()
    for part in (backend.name, backend.lang, getattr(backend, "model_id", ""), text, MATCH_VERSION):
        digest.update(str(part).encode() + b"\0")
    digest.update(np.ascontiguousarray(style, dtype=np.float32).tobytes())
    path = _probes_folder() / f"{digest.hexdigest()[:24]}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a damaged entry: computed again and rewritten
    embedding = embed(_speak(backend, style, None, text), backend.sample_rate)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, embedding)
    return embedding


BLEND_WEIGHTS = (0.25, 0.5, 0.75)  # of the better-ranked voice in a blend of the two best


def warm_probes(backend, most: int = 8) -> int:
    """Derive ahead every voice embedding a match can ask for without a pitch change: each
    candidate alone, and (with at most ``most`` candidates) every blend of two. A one-off
    per model, language and voice set, as deriving the model files is; returns how many
    were computed now."""
    names = candidates(backend)
    text = PROBE_TEXT.get(backend.lang, PROBE_TEXT["en"])
    mixes = [{n: 1.0} for n in names]
    if len(names) <= most:
        mixes += [{a: w, b: 1.0 - w} for a, b in itertools.combinations(names, 2) for w in BLEND_WEIGHTS]
    before = _probe_count()
    for weights in mixes:
        _voice_embedding(backend, blend(backend.voices, weights), text)
    return _probe_count() - before


def _probe_count() -> int:
    folder = _probes_folder()
    return len(list(folder.glob("*.npy"))) if folder.is_dir() else 0


def _probes_folder() -> Path:
    return cache_root() / "voices" / "probes"


def candidates(backend) -> list[str]:
    """The voices a speaker is matched among: the backend's ``match_candidates`` when it has
    them, else all its voices (one list for ``match_voice`` and ``warm_probes`` alike)."""
    return backend.match_candidates() if hasattr(backend, "match_candidates") else sorted(backend.voices)


def blend(voices: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The style of a weighted blend of ``voices`` (weights scaled to add up to one): what a
    match scored is what the backend speaks with."""
    return sum(w * voices[n] for n, w in weights.items()) / sum(weights.values())


def match_voice(backend, reference: str | Path, default_voice: str) -> VoiceMatch:
    """Choose a voice or blend of two (among the backend's ``match_candidates``), and a
    pitch level, closest to ``reference``."""
    reference = Path(reference)
    if not reference.is_file():
        raise UnsupportedRequestError(f"voice reference not found: {reference}")
    names = candidates(backend)
    # The candidates are part of the key: pulling a language's native voices changes the match.
    among = hashlib.sha256(",".join(names).encode()).hexdigest()[:8]
    key = f"{sha256_file(reference)[:16]}-{backend.name}-{backend.lang}-{among}-v{MATCH_VERSION}"
    cached = cache_root() / "voices" / f"{key}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
        return VoiceMatch(**{**data, "candidates": [tuple(c) for c in data["candidates"]]})

    audio, rate = load_audio(reference)
    target = embed(audio, rate)
    stats = ProsodyStats.of(audio, rate)
    text = PROBE_TEXT.get(backend.lang, PROBE_TEXT["en"])
    voices = backend.voices

    def score(weights: dict[str, float], pitch_hz: float | None = None) -> float:
        style = blend(voices, weights)
        if pitch_hz:
            return similarity(embed(_speak(backend, style, Prosody(pitch_hz=pitch_hz), text), backend.sample_rate),
                              target)
        return similarity(_voice_embedding(backend, style, text), target)

    tried: list[tuple[str, float]] = []
    singles = {name: score({name: 1.0}) for name in names}
    tried += [(name, s) for name, s in singles.items()]
    ranked = sorted(singles, key=singles.get, reverse=True)
    best_weights, best = {ranked[0]: 1.0}, singles[ranked[0]]
    for a, b in itertools.combinations(ranked[:2], 2):
        for w in BLEND_WEIGHTS:
            weights = {a: w, b: 1.0 - w}
            s = score(weights)
            tried.append((",".join(f"{n}:{v:g}" for n, v in weights.items()), s))
            if s > best:
                best_weights, best = weights, s
    pitch_hz = None
    if stats.median_hz > 0:
        with_pitch = score(best_weights, stats.median_hz)
        tried.append((f"{best_weights} @ {stats.median_hz:.0f} Hz", with_pitch))
        if with_pitch > best:
            best, pitch_hz = with_pitch, stats.median_hz
    match = VoiceMatch(weights=best_weights, pitch_hz=pitch_hz, similarity=best,
                       default_similarity=singles.get(default_voice, float("nan")), candidates=tried)
    write_text_atomic(cached, json.dumps({**match.__dict__, "candidates": [list(c) for c in tried]}))
    return match
