"""Dubbing segments on real read speech: words and where each line really starts.

    python -m bench.segments [--music-db 12] [--json PATH]

The LibriVox utterances of Debian's pocketsphinx-testdata (with their transcripts) are
joined with pauses of known length, optionally over real music (asterisk-moh-opsound)
at a given speech-to-music ratio. The true onset of each utterance is where its own
clean recording first rises above its noise floor, placed at its known offset. The
pipeline's transcribe stage (faster-whisper + segmentation + VAD snapping) runs on the
result; each true utterance is matched to the segment that overlaps it most.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.common import table, wer
from pipelines.media import decode_audio, write_wav

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
MUSIC = Path("/usr/share/asterisk/moh")
RATE = 16_000
PAUSES = (0.9, 1.3, 0.7, 1.6, 1.1)  # seconds between utterances, varied on purpose


def onset(clip: np.ndarray) -> float:
    """First 10 ms frame more than 20 dB above the clip's quietest frames."""
    frames = clip[: len(clip) // 160 * 160].reshape(-1, 160)
    level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-9)
    floor = np.percentile(level, 10)
    return float(np.argmax(level > floor + 20) * 0.01)


def build(music_db: float | None) -> tuple[np.ndarray, list[dict]]:
    """The joined programme and the truth: per utterance its onset, end and words."""
    texts = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        words, _, name = line.rpartition("(")
        texts[name.strip(" )")] = words.replace("<s>", "").replace("</s>", "").strip()
    parts, truth, t = [], [], 0.5
    parts.append(np.zeros(int(0.5 * RATE), np.float32))
    for i, wav in enumerate(sorted(LIBRIVOX.glob("*.wav"))):
        clip = decode_audio(wav, RATE)
        truth.append({"onset": t + onset(clip), "end": t + len(clip) / RATE, "text": texts[wav.stem]})
        parts += [clip, np.zeros(int(PAUSES[i % len(PAUSES)] * RATE), np.float32)]
        t += len(clip) / RATE + PAUSES[i % len(PAUSES)]
    speech = np.concatenate(parts)
    if music_db is not None:
        track = sorted(MUSIC.glob("*.wav"))[0]
        music = decode_audio(track, RATE)
        music = np.resize(music, len(speech))
        gain = np.sqrt(np.mean(speech**2) / np.mean(music**2)) * 10 ** (-music_db / 20)
        speech = speech + gain * music
    return speech.astype(np.float32), truth


def score(segments: list[dict], truth: list[dict]) -> tuple[list[float], float]:
    """Onset errors (ms) of the best-overlapping segment per utterance, and the WER of all
    words in order."""
    errors = []
    for true in truth:
        overlap = [max(0.0, min(s["end"], true["end"]) - max(s["start"], true["onset"])) for s in segments]
        if max(overlap, default=0) > 0:
            errors.append(abs(segments[int(np.argmax(overlap))]["start"] - true["onset"]) * 1000)
    hyp = " ".join(s["text"] for s in segments)
    return errors, wer([" ".join(t["text"] for t in truth)], [hyp])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music-db", type=float, default=12.0, help="speech-to-music ratio of the music condition")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not (LIBRIVOX / "transcription").is_file():
        raise SystemExit("needs Debian's pocketsphinx-testdata (apt-get install pocketsphinx-testdata)")
    from pipelines.asr import transcribe

    rows, data = [], {}
    for label, music in (("clean speech", None), (f"speech over music, {args.music_db:g} dB", args.music_db)):
        audio, truth = build(music if MUSIC.is_dir() else None)
        with tempfile.TemporaryDirectory() as tmp:
            wav = write_wav(Path(tmp) / "programme.wav", audio, RATE)
            result = transcribe(wav, "faster-whisper", "base", "en", "cpu", lambda d, n: (lambda k=1: None))
        errors, error_rate = score(result["segments"], truth)
        rows.append([label, len(truth), len(result["segments"]), f"{100 * error_rate:.1f}%",
                     float(np.median(errors)) if errors else float("nan"),
                     float(np.percentile(errors, 90)) if errors else float("nan")])
        data[label] = {"wer": error_rate, "onset_errors_ms": errors,
                       "segments": [(s["start"], s["end"], s["text"]) for s in result["segments"]],
                       "truth": truth}
    print(table(["condition", "utterances", "segments", "WER", "median |onset error| ms", "p90 ms"], rows))
    print("\ntargets: WER <= 10%; median |segment start - true speech onset| <= 60 ms")
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
