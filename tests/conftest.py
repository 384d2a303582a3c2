import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample_es.mp4"


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    """Model files derived at run time (joined Whisper weights, split Piper graphs) go to
    one cache per test session, never into the user's home."""
    cache = os.environ.get("DUB_TEST_CACHE") or str(tmp_path_factory.mktemp("dub-cache"))
    os.environ["DUB_CACHE_DIR"] = cache
    yield cache


@pytest.fixture(scope="session")
def tts():
    from tts_core import TTS

    return TTS.from_pretrained("piper")


def ffmpeg(*args: str) -> None:
    subprocess.run([shutil.which("ffmpeg"), "-v", "error", "-y", *args], check=True)


def sine(seconds: float, rate: int = 48_000, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
