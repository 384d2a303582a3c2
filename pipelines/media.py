"""ffmpeg and ffprobe: probing, decoding and writing audio.

ffmpeg's own stderr is kept in errors, so users see what it said.
"""

from __future__ import annotations

import functools
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import wave
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from tts_core.files import atomic_path

from .errors import InputError, StageError, ToolMissingError, UserError


@functools.lru_cache(maxsize=None)
def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolMissingError(f"{name} not found: install ffmpeg (apt-get install ffmpeg) or run the project's setup")
    return path


def arg(path: str | Path) -> str:
    """A file as ffmpeg is given it: absolute, so that "-dash.mp4" is not taken for an option
    nor "take:2.mp4" for a protocol."""
    return str(Path(path).absolute())


def run_ffmpeg(args: list[str], what: str) -> None:
    # errors="replace": a file name that is not UTF-8 comes back in ffmpeg's messages.
    proc = subprocess.run([tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True, errors="replace")
    detail = proc.stderr.strip().splitlines()
    # ffmpeg 5 exits 0 when the disk fills while it writes the end of the file: the file is
    # truncated all the same, so its messages are read, not only its exit code.
    full = [line for line in detail if "No space left on device" in line or "Error writing trailer" in line]
    if full:
        raise UserError(f"ffmpeg could not {what} ({full[0].strip()}): the output's disk is full; free some space "
                        "or choose another -o")
    if proc.returncode != 0:
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
    audio_streams: int = 1  # dub reads the first


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
        [tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", arg(path)],
        capture_output=True, text=True, errors="replace",
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
        audio_streams=len(audio),
    )


def _decode(path: str | Path, sample_rate: int, channels: int, output: list[str]) -> bytes:
    """Run ffmpeg on the first audio stream; its stdout. A file that will not decode is the user's to fix."""
    proc = subprocess.run(
        [tool("ffmpeg"), "-nostdin", "-y", "-v", "error", "-i", arg(path), "-map", "0:a:0",
         "-ac", str(channels), "-ar", str(sample_rate), *output],
        capture_output=True,
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"cannot decode audio of {path}: {detail[-1] if detail else 'ffmpeg failed'}")
    return proc.stdout


def decode_audio(path: str | Path, sample_rate: int, channels: int = 1) -> np.ndarray:
    """Decode the first audio stream to float32, shape (samples,) or (samples, channels)."""
    raw = _decode(path, sample_rate, channels, ["-f", "f32le", "-acodec", "pcm_f32le", "-"])
    audio = np.frombuffer(raw, dtype="<f4").copy()
    return audio if channels == 1 else audio.reshape(-1, channels)


def decode_to_wav(path: str | Path, wav: str | Path, sample_rate: int, channels: int) -> None:
    """Decode the first audio stream straight into a 16-bit PCM WAV: hours of audio never
    pass through memory. ``wav`` is overwritten (give it a temp path; see ``atomic_path``)."""
    _decode(path, sample_rate, channels, ["-f", "wav", "-acodec", "pcm_s16le", arg(wav)])


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    frames: int


def wav_info(path: str | Path) -> WavInfo:
    """A WAV's format and length from its header, without reading the samples."""
    with wave.open(str(path), "rb") as w:
        return WavInfo(w.getframerate(), w.getnchannels(), w.getnframes())


def _from_pcm16(raw: bytes, channels: int) -> np.ndarray:
    return (np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0).reshape(-1, channels)


def _to_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV written by ``write_wav``: float32 (samples,) or (samples, ch).
    For short audio (a line); a programme is read with ``read_wav_blocks``."""
    with wave.open(str(path), "rb") as w:
        rate, channels, n = w.getframerate(), w.getnchannels(), w.getnframes()
        data = _from_pcm16(w.readframes(n), channels)
    return (data[:, 0] if channels == 1 else data), rate


def read_wav_blocks(path: str | Path, block: int, length: int | None = None, start: int = 0) -> Iterator[np.ndarray]:
    """A 16-bit PCM WAV from frame ``start`` on, as float32 (samples, channels) blocks of
    ``block`` frames (the last may be shorter), so memory does not grow with the programme's
    length. With ``length``, exactly that many frames in all: the file cut, or padded with
    silence past its end."""
    with wave.open(str(path), "rb") as w:
        channels, frames = w.getnchannels(), w.getnframes()
        w.setpos(min(start, frames))
        available = max(0, frames - start)
        total = available if length is None else length
        for offset in range(0, total, block):
            n = min(block, total - offset)
            data = _from_pcm16(w.readframes(min(n, max(0, available - offset))), channels)
            if len(data) < n:
                data = np.concatenate([data, np.zeros((n - len(data), channels), np.float32)])
            yield data


class WavWriter:
    """Appends float blocks ((samples,) or (samples, channels)) to an open 16-bit WAV;
    ``also`` is handed each block's frames as written (16-bit little-endian PCM)."""

    def __init__(self, out: wave.Wave_write, channels: int, also: Callable[[bytes], None] | None = None):
        self._out, self.channels, self._also = out, channels, also

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if (1 if block.ndim == 1 else block.shape[1]) != self.channels:
            raise ValueError(f"a block of shape {block.shape} for a {self.channels}-channel WAV")
        raw = _to_pcm16(block)
        # Raw frames: the header's sizes are patched once, on close, not after every block.
        self._out.writeframesraw(raw)
        if self._also is not None:
            self._also(raw)


@contextmanager
def wav_writer(path: str | Path, sample_rate: int, channels: int,
               also: Callable[[bytes], None] | None = None) -> Iterator[WavWriter]:
    """A 16-bit PCM WAV written block by block into a temp file that is renamed into place
    only when the ``with`` block ends without an error: never half-written. ``also``: see
    ``WavWriter``."""
    with atomic_path(path, suffix=".wav") as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        yield WavWriter(out, channels, also)


class Encoder:
    """ffmpeg encoding 16-bit PCM into ``path`` as it is made: fed ``write(frames)`` while
    the caller works (the remix writing its mix), it encodes on the other core instead of
    after (AAC at 192 kb/s takes about 0.7 s per minute of audio, and the remix's last pass
    leaves a core free). A thread hands the frames over, so the caller waits on ffmpeg's
    pace only when it is ``QUEUED`` writes ahead (memory stays bounded). ``finish`` waits
    for the file; ``abort`` stops ffmpeg and leaves the file to the caller's folder."""

    QUEUED = 4

    def __init__(self, path: str | Path, sample_rate: int, channels: int, codec: str, options: list[str]):
        self.path = Path(path)
        self._frames: queue.Queue[bytes | None] = queue.Queue(self.QUEUED)
        self._errors = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar",
             str(sample_rate), "-ac", str(channels), "-i", "pipe:0", "-c:a", codec, *options, arg(self.path)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._errors)
        self._feeder = threading.Thread(target=self._feed, name="encoder", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self._proc.stdin
        while (raw := self._frames.get()) is not None:
            if stdin is None:
                continue  # ffmpeg stopped: what is left is taken and dropped, so write() never blocks
            try:
                stdin.write(raw)
            except OSError:  # a broken pipe: ffmpeg failed, and finish() says why
                stdin = None
        if stdin is not None:
            try:
                stdin.close()
            except OSError:
                pass

    def write(self, raw: bytes) -> None:
        self._frames.put(raw)

    def finish(self) -> Path:
        self._frames.put(None)
        self._feeder.join()
        code = self._proc.wait()
        if code != 0:
            self._errors.seek(0)
            lines = self._errors.read().decode(errors="replace").strip().splitlines()
            raise StageError(f"ffmpeg failed to encode the mix: {lines[-1] if lines else 'exit ' + str(code)}")
        self._errors.close()
        return self.path

    def abort(self) -> None:
        self._proc.kill()
        self._frames.put(None)
        self._feeder.join()
        self._proc.wait()
        self._errors.close()


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM WAV, written to a temp file and renamed into place."""
    audio = np.asarray(audio, dtype=np.float32)
    with wav_writer(path, sample_rate, 1 if audio.ndim == 1 else audio.shape[1]) as out:
        out.write(audio)
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
