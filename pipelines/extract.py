"""Stage 1: probe the input and decode its audio at the mix rate."""

from __future__ import annotations

from pathlib import Path

from tts_core.files import atomic_path

from .errors import InputError
from .media import decode_to_wav, probe, wav_info

VERSION = "3"
MIX_RATE = 48_000  # everything downstream of extraction works at 48 kHz
WAV_LIMIT = 2**32 - 1 - 44  # bytes of 16-bit samples a WAV's 32-bit sizes can count


def extract(source: Path, folder: Path) -> dict:
    info = probe(source)
    if not info.has_audio:
        raise InputError(f"{source} has no audio stream: there is no dialogue to dub; give the file with its sound")
    channels = 2 if info.audio_channels >= 2 else 1
    expected = info.audio_duration or info.duration
    hours = WAV_LIMIT / (MIX_RATE * channels * 2) / 3600
    if expected > hours * 3600:
        raise InputError(f"{source} is {expected / 3600:.1f} h long; dub handles up to {hours:.1f} h of "
                         f"{'stereo' if channels == 2 else 'mono'} audio: split it into parts")
    # ffmpeg writes the WAV itself: hours of audio never pass through this process.
    with atomic_path(folder / "source.wav", suffix=".wav") as tmp:
        decode_to_wav(source, tmp, MIX_RATE, channels)
        frames = wav_info(tmp).frames
        if frames == 0:
            raise InputError(f"{source}: the audio stream decodes to nothing; is the file truncated?")
        decoded = frames / MIX_RATE
        if expected and decoded < 0.9 * expected - 1.0:
            raise InputError(f"{source} looks truncated: it says {expected:.1f}s but only {decoded:.1f}s of audio "
                             "decodes; re-download or re-export it")
    # The programme length the new audio must match: the picture's, when there is one.
    length = info.video_duration or info.duration or decoded
    return {
        "audio": "source.wav",
        "sample_rate": MIX_RATE,
        "channels": channels,
        "has_video": info.has_video,
        "duration": length,
    }
