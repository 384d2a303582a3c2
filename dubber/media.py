"""ffmpeg and ffprobe: probing, decoding and writing audio.

ffmpeg's own stderr is kept in errors, so users see what it said.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_core.files import atomic_path

from .errors import InputError, StageError, ToolMissingError


@functools.lru_cache(maxsize=None)
def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolMissingError(f"{name} not found: install ffmpeg (apt-get install ffmpeg) or run the project's setup")
    return path


def run_ffmpeg(args: list[str], what: str) -> None:
    proc = subprocess.run([tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()
        raise StageError(f"ffmpeg failed to {what}: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float  # container duration, seconds
    has_video: bool
    has_audio: bool
    video_duration: float | None
    audio_duration: float | None
    audio_channels: int
    audio_rate: int


def probe(path: str | Path) -> MediaInfo:
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a media file: {path}")
    st = path.stat()
    if st.st_size == 0:
        raise InputError(f"input is empty (0 bytes): {path}; re-download or re-export it")
    return _probe(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _probe(path: Path, size: int, mtime_ns: int) -> MediaInfo:
    """ffprobe once per file version in a process (a stage-major batch enters a dub once per stage)."""
    proc = subprocess.run(
        [tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()
        raise InputError(f"cannot read {path} as media ({detail[-1] if detail else 'ffprobe failed'}); "
                         "is it a complete video or audio file?")
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    audio = [s for s in streams if s.get("codec_type") == "audio"]

    def seconds(s: dict | None) -> float | None:
        try:
            return float(s["duration"]) if s and "duration" in s else None
        except (TypeError, ValueError):
            return None

    fmt_duration = seconds(data.get("format"))
    duration = fmt_duration or seconds(video[0] if video else None) or seconds(audio[0] if audio else None) or 0.0
    return MediaInfo(
        path=path,
        duration=duration,
        has_video=bool(video),
        has_audio=bool(audio),
        video_duration=seconds(video[0]) if video else None,
        audio_duration=seconds(audio[0]) if audio else None,
        audio_channels=int(audio[0].get("channels", 0)) if audio else 0,
        audio_rate=int(audio[0].get("sample_rate", 0)) if audio else 0,
    )


def decode_audio(path: str | Path, sample_rate: int, channels: int = 1) -> np.ndarray:
    """Decode the first audio stream to float32, shape (samples,) or (samples, channels)."""
    proc = subprocess.run(
        [tool("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le",
         "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sample_rate), "-"],
        capture_output=True,
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"cannot decode audio of {path}: {detail[-1] if detail else 'ffmpeg failed'}")
    audio = np.frombuffer(proc.stdout, dtype="<f4").copy()
    return audio if channels == 1 else audio.reshape(-1, channels)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV written by ``write_wav``: float32 (samples,) or (samples, ch)."""
    with wave.open(str(path), "rb") as w:
        rate, channels, n = w.getframerate(), w.getnchannels(), w.getnframes()
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float32) / 32768.0
    return (data if channels == 1 else data.reshape(-1, channels)), rate


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM WAV, written to a temp file and renamed into place."""
    audio = np.asarray(audio, dtype=np.float32)
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with atomic_path(path, suffix=".wav") as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(pcm.tobytes())
    return Path(path)


def resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Polyphase resampling; keeps the duration exact to the sample."""
    if src == dst:
        return audio.astype(np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(src, dst)
    out = resample_poly(audio, dst // g, src // g, axis=0).astype(np.float32)
    want = int(round(len(audio) * dst / src))
    if len(out) > want:
        out = out[:want]
    elif len(out) < want:
        pad = [(0, want - len(out))] + [(0, 0)] * (out.ndim - 1)
        out = np.pad(out, pad)
    return out
