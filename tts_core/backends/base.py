"""What every TTS backend provides, and the registry that finds one by name.

A backend splits synthesis in two so the planner can sit between the halves:
``analyse`` runs the text side of the model once (tokens, their kinds and the natural
fractional durations), and ``render`` turns frame counts per token into audio.
Capabilities are class attributes, so the pipeline asks instead of checking names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import UnknownBackendError
from ..registry import Registry


@dataclass(frozen=True)
class Analysis:
    """The text side of one utterance, ready to be planned and rendered."""

    text: str
    phonemes: str  # what the model will say, for reports and debugging
    kinds: tuple[str, ...]  # per token: pause / pad / vowel / consonant / mark
    natural: np.ndarray  # float frames per token at the model's own pace
    state: Any  # backend-private tensors that `render` needs (encoder outputs)


class Backend(ABC):
    name: ClassVar[str]
    languages: ClassVar[tuple[str, ...]]  # ISO 639-1 codes it can speak
    supports_target_tokens: ClassVar[bool]  # exact length by construction, token by token
    length_control: ClassVar[str] = "frames"  # "frames" (per token) or "rate" (whole-line speed)
    supports_voice_reference: ClassVar[bool]
    supports_emotion: ClassVar[Literal["none", "prosody", "model"]]
    # render() takes fractional frame counts: a token may last 1.6 frames, its edge frames
    # shared with its neighbours (only where the export's alignment is an input).
    fractional_frames: ClassVar[bool] = False
    # Whether the weights ship inside installed packages (it works offline out of the box),
    # and, among those that do, which is the default for a language it speaks (lower first).
    bundled: ClassVar[bool] = True
    default_rank: ClassVar[int] = 100
    # How slow it is on an ordinary CPU, measured (None: faster than real time there).
    cpu_speed: ClassVar[str | None] = None
    # The duration planner's weights per kind of token for this model (None: the planner's own).
    elasticity: ClassVar[dict[str, float] | None] = None
    # A fractional backend plans a changed length from the model's unrounded durations
    # (True) or from its own whole frames (False), whichever was measured to be clearer.
    plan_from_natural: ClassVar[bool] = False
    # Frames of the model's own edge silence rendered around a line's speech and cut off
    # after: a decoder's convolutions fade whatever starts or ends at the edge of what it is
    # given (see the backends for what was measured).
    edge_context: ClassVar[int] = 0
    # Frames per token of ``target_tokens``: 1 where the tokens are the duration frames;
    # IndexTTS-2 counts its semantic codes, 1.72 mel frames each.
    frames_per_token: ClassVar[float] = 1.0

    sample_rate: int
    hop_length: int  # samples per frame (token of duration)

    @property
    def token_rate(self) -> float:
        """Duration frames per second."""
        return self.sample_rate / self.hop_length

    @classmethod
    def owns_voice(cls, spec: str) -> bool:
        """Whether ``spec`` (a ``--voice`` value) is one of this backend's own voice names or
        files, so that naming it is enough to choose the backend."""
        return False

    @classmethod
    @abstractmethod
    def load(cls, source: str | Path | None, *, device: str = "cpu", lang: str | None = None) -> "Backend":
        """Load a voice: a registered voice name, a local model path, or the bundled default.
        ``lang`` picks the language where one model speaks several."""

    def whole_frames(self, natural: np.ndarray) -> np.ndarray:
        """The frame counts the unmodified model would use (its own rounding)."""
        return np.ceil(natural).astype(np.int64)

    def edge_frames(self, analysis: Analysis) -> tuple[float, float]:
        """How the model pads: frames of silence before and after the speech of its own
        rendition (``whole_frames``). Here, the pauses and blanks before the first sound
        and after the last; a backend that knows better (it measures its output, or has
        an energy curve) says so. The planner gives this silence no time."""
        own = self.whole_frames(analysis.natural)
        sounding = [i for i, k in enumerate(analysis.kinds) if k not in ("pause", "pad")]
        if not sounding:
            return 0.0, 0.0
        return float(own[: sounding[0]].sum()), float(own[sounding[-1] + 1:].sum())

    @abstractmethod
    def analyse(self, text: str, *, seed: int = 0, **voice) -> Analysis:
        """``voice`` holds what ``reference_voice`` returned (e.g. a style), if anything."""

    def reference_voice(self, reference: str | Path) -> tuple[dict, Any, Any]:
        """(analyse() keyword arguments, base Prosody, a report record) for a reference clip."""
        raise NotImplementedError

    @abstractmethod
    def render(self, analysis: Analysis, frames: np.ndarray, *, seed: int = 0, prosody=None,
               edges: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """Float32 mono samples, exactly ``frames.sum() * hop_length`` long (``frames`` are
        whole numbers unless ``fractional_frames``; their sum always is). ``prosody`` (a
        ``tts_core.prosody.Prosody``) is honoured by backends with supports_emotion="prosody".
        ``edges`` is the silence at the voice's own timing (``edge_frames``) that ``frames``
        leave out: a backend that carries anything at that timing cuts it there too."""


def alignment(frames: np.ndarray) -> np.ndarray:
    """The length regulator's (tokens x frames) matrix for fractional frame counts: token i
    spans [c[i-1], c[i]) of the cumulative counts, and frame j takes from each token the part
    of [j, j+1) it covers. Whole counts give the model's own one-hot alignment."""
    edges = np.concatenate([[0.0], np.cumsum(np.maximum(frames, 0.0))])
    total = int(round(edges[-1]))
    edges[-1] = total
    j = np.arange(total, dtype=np.float64)
    lo = np.maximum(edges[:-1, None], j[None, :])
    hi = np.minimum(edges[1:, None], j[None, :] + 1.0)
    return np.clip(hi - lo, 0.0, None).astype(np.float32)


# Every TTS backend, built in or from another package's "dub.backends" entry point "tts.NAME".
BACKENDS: Registry[type[Backend]] = Registry("tts", "TTS backend", UnknownBackendError)
register = BACKENDS.register
backend_names = BACKENDS.names
get_backend = BACKENDS.get


def default_backend(lang: str | None, *, named_voice: bool = False, recording: bool = False,
                    voice: str | None = None) -> str:
    """The backend a run uses when none is named: among those whose weights ship, by
    ``default_rank``, the first that speaks ``lang`` (a backend listing no languages speaks
    any: espeak-ng); to approach a recording, the first that follows voice references (and
    speaks ``lang`` if one does); for a voice given by name or path (``voice``), the backend
    that says the voice is its own (Kokoro's ``ef_dora``), else the first-ranked one."""
    ranked = sorted((cls for cls in BACKENDS.classes() if cls.bundled), key=lambda cls: (cls.default_rank, cls.name))
    if voice and not recording:
        owner = next((cls for cls in ranked if cls.owns_voice(voice)), None)
        if owner is not None:
            return owner.name
    if recording:
        ranked = [cls for cls in ranked if cls.supports_voice_reference]
    elif named_voice or not lang:
        return ranked[0].name
    for cls in ranked:
        if not lang or not cls.languages or lang in cls.languages:
            return cls.name
    if ranked:  # following the recording comes first; loading says which languages it speaks
        return ranked[0].name
    raise UnknownBackendError(f"no installed TTS backend speaks {lang!r}")
