"""Stage 1: probe the input and decode its audio at the mix rate."""

from __future__ import annotations

from pathlib import Path

from dubber.errors import InputError
from dubber.media import decode_audio, probe, write_wav

VERSION = "2"
MIX_RATE = 48_000  # everything downstream of extraction works at 48 kHz


def extract(source: Path, folder: Path) -> dict:
    info = probe(source)
    if not info.has_audio:
        raise InputError(f"{source} has no audio stream: there is no dialogue to dub")
    channels = 2 if info.audio_channels >= 2 else 1
    audio = decode_audio(source, MIX_RATE, channels)
    if len(audio) == 0:
        raise InputError(f"{source}: the audio stream decodes to nothing; is the file truncated?")
    decoded = len(audio) / MIX_RATE
    expected = info.audio_duration or info.duration
    if expected and decoded < 0.9 * expected - 1.0:
        raise InputError(f"{source} looks truncated: it says {expected:.1f}s but only {decoded:.1f}s of audio "
                         "decodes; re-download or re-export it")
    write_wav(folder / "source.wav", audio, MIX_RATE)
    # The programme length the new audio must match: the picture's, when there is one.
    length = info.video_duration or info.duration or len(audio) / MIX_RATE
    return {
        "audio": "source.wav",
        "sample_rate": MIX_RATE,
        "channels": channels,
        "has_video": info.has_video,
        "duration": length,
    }
