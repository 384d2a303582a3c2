"""The openai-whisper ASR backend (``--asr openai-whisper``): Whisper in PyTorch.

``--asr-model`` is an official model name (downloaded when online into the dub cache), a
local openai-whisper ``.pt`` checkpoint, or a CTranslate2 Whisper folder (converted in
memory). ``base`` needs no network: it is the bundled CTranslate2 base model converted
once into ``<cache>/models/whisper-base-openai.pt`` (see ``whisper_convert``).

Decoding is greedy (beam search costs ~14x more on CPU), without conditioning on the
previous window, and always with word times, so the words look like the faster-whisper
backend's: the text keeps its leading space, with the word's probability as ``p``.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import BackendError, ModelError
from tts_core.files import cache_root

from . import whisper_convert
from .asr import ASR_RATE, ASRBackend, Transcript, speech_regions

_HINT = ("use 'base' (the bundled model, converted), an official name such as 'small' when online, "
         "or a local openai-whisper .pt checkpoint")
_PROGRESS_LOCK = threading.Lock()


def _whisper():
    try:
        import whisper
    except ImportError as exc:
        raise BackendError("the openai-whisper backend needs the openai-whisper package: "
                           "pip install 'dub[openai]' (install the CPU torch wheel first)") from exc
    return whisper


def _load_checkpoint(path: Path, device: str):
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return whisper_convert.build_model(checkpoint, device)


def load(name_or_path: str, device: str = "cpu"):
    """A ``whisper.model.Whisper``, in eval mode on ``device``."""
    whisper = _whisper()
    path = Path(name_or_path).expanduser()
    try:
        if path.is_dir():
            if not (path / "model.bin").is_file():
                raise ModelError(f"{path} is neither an openai-whisper checkpoint nor a CTranslate2 Whisper folder")
            model = whisper_convert.build_model(whisper_convert.convert(path), device)
        elif path.is_file():
            model = _load_checkpoint(path, device)
        else:
            bundled = whisper_convert.bundled_checkpoint() if name_or_path == "base" else None
            if bundled is not None:
                model = _load_checkpoint(bundled, device)
            else:
                model = whisper.load_model(name_or_path, device=device,
                                           download_root=str(cache_root() / "models" / "openai-whisper"))
    except ModelError as exc:
        raise ModelError(f"cannot load openai-whisper model {name_or_path!r}: {exc}; {_HINT}") from exc
    except Exception as exc:  # offline download, unknown name, corrupt or foreign checkpoint
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(f"cannot load openai-whisper model {name_or_path!r} ({type(exc).__name__}: {reason}); "
                         f"{_HINT}") from exc
    return model.eval()


class _Progress:
    """Stands in for ``tqdm.tqdm`` inside ``whisper.transcribe``: mel frames -> seconds."""

    def __init__(self, tick: Callable[[int], None]):
        self.tick = tick

    def __call__(self, *args, **kwargs):
        self.frames = 0
        self.seconds = 0
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, frames: int) -> None:
        self.frames += frames
        seconds = self.frames // 100  # 100 mel frames a second
        if seconds > self.seconds:
            self.tick(seconds - self.seconds)
            self.seconds = seconds


@contextlib.contextmanager
def _reporting(tick: Callable[[int], None]):
    """Route openai-whisper's progress bar to ``tick`` while one transcription runs."""
    import importlib
    import types

    module = importlib.import_module("whisper.transcribe")  # the package attribute is the function

    with _PROGRESS_LOCK:
        original = module.tqdm
        module.tqdm = types.SimpleNamespace(tqdm=_Progress(tick))
        try:
            yield
        finally:
            module.tqdm = original


def _speech_window(speech16k: np.ndarray, seconds: float = 30.0) -> np.ndarray:
    """Up to ``seconds`` of voiced audio (the VAD's regions joined), for language detection;
    the opening seconds when the VAD hears no voice."""
    pieces, total = [], 0
    limit = int(seconds * ASR_RATE)
    for start, end in speech_regions(speech16k):
        piece = speech16k[int(start * ASR_RATE):int(end * ASR_RATE)][: limit - total]
        pieces.append(piece)
        total += len(piece)
        if total >= limit:
            break
    return np.concatenate(pieces) if pieces else speech16k[:limit]


class OpenAIWhisper(ASRBackend):
    """Whisper through openai-whisper (PyTorch): the converted bundled base model offline."""

    name = "openai-whisper"

    def __init__(self, model: str, device: str):
        self.device = device
        self.fp16 = device.startswith("cuda")
        self.model = load(model, device)

    def detect_language(self, speech16k: np.ndarray) -> tuple[str, float]:
        whisper = _whisper()
        if not self.model.is_multilingual:
            return "en", 1.0
        clip = whisper.pad_or_trim(_speech_window(speech16k).astype(np.float32))
        mel = whisper.log_mel_spectrogram(clip, self.model.dims.n_mels).to(self.model.device)
        _, probs = self.model.detect_language(mel.half() if self.fp16 else mel)
        language = max(probs, key=probs.get)
        return language, float(probs[language])

    def transcribe(self, speech16k, language, tick):
        audio = np.ascontiguousarray(speech16k, dtype=np.float32)
        probability = 1.0
        if language is None:
            language, probability = self.detect_language(audio)
        with _reporting(tick):
            result = self.model.transcribe(
                audio, language=language, task="transcribe", word_timestamps=True,
                condition_on_previous_text=False, temperature=0.0, beam_size=None, fp16=self.fp16, verbose=None,
            )
        words: list[dict] = []
        for segment in result["segments"]:
            for w in segment.get("words") or []:
                if w["word"].strip():
                    words.append({"start": float(w["start"]), "end": float(w["end"]), "word": w["word"],
                                  "p": float(w["probability"])})
        return Transcript(result.get("language") or language, probability, words)

    def translate(self, clip16k, language, temperature=0.0):
        with _reporting(lambda seconds: None):  # silent, and never fed to a concurrent transcription's bar
            result = self.model.transcribe(
                np.ascontiguousarray(clip16k, dtype=np.float32), language=language, task="translate",
                temperature=temperature, beam_size=None, without_timestamps=True, condition_on_previous_text=False,
                fp16=self.fp16, verbose=None,
            )
        return " ".join(s["text"].strip() for s in result["segments"]).strip()
