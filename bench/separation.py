"""Dialogue separation on real speech mixed with real music, the true stems known.

    python -m bench.separation [--json PATH]

Speech: the LibriVox clips of Debian pocketsphinx-testdata (with their transcripts) and
Debian asterisk-core-sounds-en-wav prompts. Music: Debian asterisk-moh-opsound-wav. Each
speech clip is mixed with a music excerpt at 0, 5 and 10 dB speech-to-music ratio. For each
separator that runs here: SI-SDR of the dialogue and of the background against the true
stems, the improvement over the mixture, and Whisper (base) WER on the LibriVox clips for
the mixture and for the separated dialogue.
Targets: dialogue SI-SDR improvement >= 5 dB at 5 dB SNR; WER(dialogue) <= WER(mixture).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench import recordings
from bench.common import si_sdr, table, transcribe, wer
from pipelines.errors import DubError
from pipelines.media import read_wav, resample

LIBRIVOX = recordings.LIBRIVOX
PROMPTS = recordings.asterisk_prompts("en")
MUSIC = recordings.MUSIC
RATE = 48_000
SNRS = (0, 5, 10)
PROMPT_NAMES = ("vm-intro", "queue-thankyou", "conf-getpin", "vm-incorrect", "agent-loginok", "auth-thankyou")


def load(path: Path) -> np.ndarray:
    audio, rate = read_wav(path)
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    return resample(mono.astype(np.float32), rate, RATE)


def speech_clips() -> list[tuple[str, np.ndarray, str | None]]:
    """(name, 48 kHz speech, transcript or None)."""
    clips = []
    transcripts = {}
    listing = LIBRIVOX / "transcription"
    if listing.exists():
        for line in listing.read_text().splitlines():
            if "(" in line:
                text, _, ident = line.rpartition("(")
                transcripts[ident.strip(" )")] = text.replace("<s>", "").replace("</s>", "").strip()
    for path in sorted(LIBRIVOX.glob("*.wav")):
        clips.append((path.stem, load(path), transcripts.get(path.stem)))
    prompts = [PROMPTS / f"{n}.wav" for n in PROMPT_NAMES if (PROMPTS / f"{n}.wav").exists()]
    if prompts:
        gap = np.zeros(RATE // 4, np.float32)
        clips.append(("asterisk-prompts", np.concatenate([x for p in prompts for x in (load(p), gap)]), None))
    return clips


def music_bed(length: int, index: int, tracks: list[Path], cache: dict) -> np.ndarray:
    path = tracks[index % len(tracks)]
    if path not in cache:
        cache[path] = load(path)
    track = cache[path]
    start = (20 + 7 * index) * RATE % max(1, len(track) - length)
    bed = track[start : start + length]
    return np.pad(bed, (0, length - len(bed)))


def separators() -> list[tuple[str, object | None, str]]:
    """(name, separator or None, note)."""
    from pipelines import separate

    out = []
    for name in ("none", "deepfilternet", "demucs"):
        try:
            # torch.hub says "Downloading: ..." on stdout, where the table goes.
            with contextlib.redirect_stdout(sys.stderr):
                out.append((name, separate.get_separator(name), ""))
        except DubError as exc:
            note = "weights not available offline" if name == "demucs" else str(exc).splitlines()[0]
            out.append((name, None, note))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args(argv)
    tracks = sorted(MUSIC.glob("*.wav"))
    clips = speech_clips()
    if not tracks or not clips:
        print("needs Debian pocketsphinx-testdata / asterisk-core-sounds-en-wav and asterisk-moh-opsound-wav")
        return 1
    cache: dict = {}
    beds = [music_bed(len(s), i, tracks, cache) for i, (_, s, _) in enumerate(clips)]
    print(f"{len(clips)} speech clips ({sum(len(s) for _, s, _ in clips) / RATE:.1f} s), "
          f"{len(tracks)} music tracks, SNR {SNRS} dB")

    mixtures = {}
    for snr in SNRS:
        for (name, speech, _), bed in zip(clips, beds):
            music = bed * np.sqrt(np.mean(speech**2) / np.mean(bed**2) / 10 ** (snr / 10))
            mixtures[snr, name] = (speech, music.astype(np.float32))

    hyp_cache: dict = {}

    def asr(key, audio):
        if key not in hyp_cache:
            hyp_cache[key] = transcribe(audio, RATE, "en")
        return hyp_cache[key]

    refs = [(name, text) for name, _, text in clips if text]
    rows, figures = [], []
    for sep_name, sep, note in separators():
        if sep is None:
            rows.append([sep_name, "-", "-", "-", "-", "-", "-", "-", note])
            figures.append({"separator": sep_name, "note": note})
            continue
        for snr in SNRS:
            d_sdr, d_gain, b_sdr, b_gain, seconds, audio_seconds = [], [], [], [], 0.0, 0.0
            hyps_mix, hyps_sep = [], []
            for name, _, text in clips:
                speech, music = mixtures[snr, name]
                mix = speech + music
                start = time.perf_counter()
                dialogue = sep.dialogue(mix, lambda n=1: None)
                background = sep.background(mix, dialogue)
                seconds += time.perf_counter() - start
                audio_seconds += len(mix) / RATE
                d_sdr.append(si_sdr(dialogue, speech))
                d_gain.append(d_sdr[-1] - si_sdr(mix, speech))
                if sep_name != "none":
                    b_sdr.append(si_sdr(background, music))
                    b_gain.append(b_sdr[-1] - si_sdr(mix, music))
                if text:
                    hyps_mix.append(asr(("mix", snr, name), mix))
                    hyps_sep.append(asr((sep_name, snr, name), dialogue) if sep_name != "none" else hyps_mix[-1])
            texts = [t for _, t in refs]
            wer_mix, wer_sep = wer(texts, hyps_mix), wer(texts, hyps_sep)
            fig = {"separator": sep_name, "snr_db": snr, "dialogue_si_sdr": float(np.mean(d_sdr)),
                   "dialogue_si_sdr_gain": float(np.mean(d_gain)),
                   "background_si_sdr": float(np.mean(b_sdr)) if b_sdr else None,
                   "background_si_sdr_gain": float(np.mean(b_gain)) if b_gain else None,
                   "wer_mixture": wer_mix, "wer_dialogue": wer_sep, "rtf": seconds / audio_seconds}
            figures.append(fig)
            verdict = []
            if sep_name != "none":
                if snr == 5:
                    verdict.append("SI-SDRi>=5 " + ("PASS" if fig["dialogue_si_sdr_gain"] >= 5 else "MISS"))
                verdict.append("WER " + ("PASS" if wer_sep <= wer_mix else "MISS"))
            rows.append([sep_name, snr, fig["dialogue_si_sdr"], fig["dialogue_si_sdr_gain"],
                         "-" if not b_sdr else fig["background_si_sdr"], "-" if not b_gain else fig["background_si_sdr_gain"],
                         wer_mix, wer_sep, f"RTF {fig['rtf']:.3f} " + ", ".join(verdict)])
    print(table(["separator", "SNR dB", "dlg SI-SDR", "dlg SI-SDRi", "bg SI-SDR", "bg SI-SDRi", "WER mix",
                 "WER dlg", "notes"], rows))
    print("targets: dialogue SI-SDR improvement >= 5 dB at 5 dB SNR; WER on separated dialogue <= WER on the mixture")
    print(f"SI-SDR over {len(clips)} clips (LibriVox + asterisk prompts); WER over the {len(refs)} LibriVox clips "
          "(Whisper base, greedy)")
    if args.json:
        args.json.write_text(json.dumps({"snrs": list(SNRS), "results": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
