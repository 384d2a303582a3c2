"""Stage 6: place the dubbed lines on the programme timeline over the background.

Each line goes in sample-accurately at its slot with short fades at its edges, levelled
to the original dialogue; the background is ducked under the new speech by a sidechain
that knows exactly where the lines are (it still holds some of the original voice) and
restored between lines. The mix is brought to the source programme's integrated loudness
(or a target) and through a true-peak limiter. It is exactly the programme's length.

The mix is made ``BLOCK_SECONDS`` at a time, from the files, in a few passes (measure,
level, write), so memory stays the same for a programme of any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import StageError
from .media import Encoder, read_wav, read_wav_blocks, wav_info, wav_writer
from .mux import ENCODED_AHEAD, codec_options

from . import loudness

VERSION = "5"
CODEC_HEADROOM_DB = 0.5
BLOCK_SECONDS = 30


def _rms(parts: Iterable[np.ndarray]) -> float:
    """RMS of the parts joined end to end (0 when they hold nothing)."""
    energy, count = 0.0, 0
    for part in parts:
        energy += float(np.sum(part.astype(np.float64) ** 2))
        count += part.size
    return float(np.sqrt(energy / count)) if count else 0.0


def _slots(wav: Path, spans: list[tuple[int, int]], block: int) -> Iterator[np.ndarray]:
    """The audio of ``wav`` (channels averaged) in each span, read span by span."""
    frames = wav_info(wav).frames
    for a, b in spans:
        if min(b, frames) > a:
            for part in read_wav_blocks(wav, block, length=min(b, frames) - a, start=a):
                yield part.mean(axis=1)


def _lower(gain: np.ndarray, offset: int, lo: int, hi: int, origin: int, first: float, step: float) -> None:
    """Lower ``gain`` (samples from ``offset`` on) to a ramp over samples [lo, hi) worth
    ``first + (i - origin) * step`` at sample i (what ``np.linspace`` gives)."""
    a, b = max(lo, offset), min(hi, offset + len(gain))
    if b > a:
        ramp = ((np.arange(a, b) - origin) * step + first).astype(np.float32)
        np.minimum(gain[a - offset : b - offset], ramp, out=gain[a - offset : b - offset])


def _duck_curve(spans: list[tuple[int, int]], length: int, floor: float, attack: int, release: int,
                start: int = 0, stop: int | None = None) -> np.ndarray:
    """Background gain: ``floor`` under each line, linear ramps of ``attack`` samples before
    it and ``release`` samples after it, 1.0 elsewhere (overlapping ramps take the lower);
    ramps are cut short at the programme's ends. Samples [start, stop) of a programme of
    ``length``: a block's curve is that block of the whole programme's."""
    stop = length if stop is None else stop
    gain = np.ones(stop - start, np.float32)
    for a, b in spans:
        lo, hi = max(0, a - attack), min(length, b + release)
        if hi <= start or lo >= stop:
            continue
        if min(b, stop) > max(a, start):
            gain[max(a, start) - start : min(b, stop) - start] = floor
        if a > lo:
            _lower(gain, start, lo, a, lo, 1.0, (floor - 1.0) / (a - lo))
        if hi > b:
            _lower(gain, start, b, hi, b - 1, floor, (1.0 - floor) / (hi - b))
    return gain


@dataclass(frozen=True)
class _Placed:
    start: int  # first sample on the programme's timeline
    end: int  # one past the last (cut at the programme's end)
    audio: Path


def _place(lines: list[dict], rate: int, length: int) -> tuple[list[_Placed], float]:
    """Where each line goes on the timeline (from the WAV headers only), and the
    milliseconds cut off lines that run past the programme's end."""
    placed, cut_ms = [], 0.0
    for line in lines:
        if not line.get("audio"):
            continue
        info = wav_info(line["audio"])
        if info.sample_rate != rate:
            raise StageError(f"line {line['index']} is at {info.sample_rate} Hz, the mix at {rate} Hz")
        start = int(round(line["start"] * rate))
        end = min(length, start + info.frames)
        cut_ms += 1000 * (start + info.frames - end) / rate
        if end > start:
            placed.append(_Placed(start, end, Path(line["audio"])))
    return placed, cut_ms


class _Voice:
    """The dubbed lines on the timeline, rendered a stretch at a time (each line with short
    fades at its edges, no clicks)."""

    def __init__(self, placed: list[_Placed], fade: int):
        self._placed, self._fade = placed, fade
        self._starts = np.array([p.start for p in placed], dtype=np.int64)
        self._ends = np.array([p.end for p in placed], dtype=np.int64)

    def render(self, start: int, stop: int) -> np.ndarray:
        voice = np.zeros(stop - start, np.float32)
        for i in np.nonzero((self._ends > start) & (self._starts < stop))[0]:
            line = self._placed[i]
            audio = self._faded(line.audio)
            a, b = max(line.start, start), min(line.end, stop)
            voice[a - start : b - start] += audio[a - line.start : b - line.start]
        return voice

    def _faded(self, path: Path) -> np.ndarray:
        audio, _ = read_wav(path)
        audio = audio.copy()
        k = min(self._fade, len(audio) // 2)
        if k:
            ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
            audio[:k] *= ramp
            audio[-k:] *= ramp[::-1]
        return audio


@dataclass(frozen=True)
class MixOptions:
    duck_db: float = 6.0  # how far the background dips under dubbed speech (0 = no ducking)
    duck_attack: float = 0.05  # seconds the dip takes, ending where the line starts
    duck_release: float = 0.3  # seconds the background takes to come back after a line
    loudness: float | None = None  # target LUFS; None = the source programme's own loudness
    true_peak: float = -1.0  # dBTP ceiling of the true-peak limiter
    fade: float = 0.005  # seconds of fade at each line edge (no clicks)


def _write(folder: Path, stems: Iterable[tuple[np.ndarray, np.ndarray]], rate: int, channels: int,
           mix_gain: np.float32, stem_gain: np.float32, ceiling: float,
           encoder: Encoder | None = None) -> tuple[float, float]:
    """Write the mix (and hand it to ``encoder``) and the two stems, each through its own
    limiter (a stem may peak where the mix does not), in one pass; the mix's true peak and
    loudness."""
    peak, meter = loudness.TruePeakMeter(), loudness.LoudnessMeter(rate)
    limiters = [loudness.Limiter(rate, ceiling) for _ in range(3)]
    with wav_writer(folder / "mix.wav", rate, channels, encoder.write if encoder else None) as mix, \
            wav_writer(folder / "dialogue_dub.wav", rate, 1) as dialogue, \
            wav_writer(folder / "music_effects.wav", rate, channels) as music_effects:
        writers = (mix, dialogue, music_effects)

        def put(track: int, pieces: list[np.ndarray]) -> None:
            for piece in pieces:
                writers[track].write(piece)
                if track == 0:
                    peak.add(piece)
                    meter.add(piece)

        for effects, voice in stems:
            signals = ((effects + voice[:, None]) * mix_gain, voice * stem_gain, effects * stem_gain)
            for track, signal in enumerate(signals):
                put(track, limiters[track].push(signal))
        for track, limiter in enumerate(limiters):
            put(track, limiter.end())
    return peak.value(), meter.value()


def warm() -> None:
    """scipy's filters (the loudness meter's, the true-peak oversampling's, the envelopes'),
    which take about half a second to import, loaded ahead of the mix."""
    import scipy.ndimage  # noqa: F401
    import scipy.signal  # noqa: F401


def remix(source_wav: Path | None, background_wav: Path | None, dialogue_wav: Path | None, lines: list[dict],
          duration: float, folder: Path, options: MixOptions = MixOptions(), rate: int | None = None,
          hold: tuple[float, float] | None = None, encode: str | None = None) -> dict:
    """The mix of ``lines`` over the background. Without a programme (subtitles in: no
    source, background or dialogue), the lines alone at ``rate`` in mono, at their own level
    unless ``options.loudness`` says otherwise, through the same fades and limiter.
    ``hold`` = (voice gain, mix gain in dB) of an earlier mix, kept instead of measured
    again: a line regenerated in review changes the mix inside its slot only. ``encode``: a
    codec of ``mux.ENCODED_AHEAD`` to encode the mix into as it is written (the mux's
    slowest part, done beside the remix's last pass instead of after it)."""
    if background_wav is not None:
        bed = wav_info(background_wav)
        rate, channels = bed.sample_rate, bed.channels
    elif rate is None:
        raise ValueError("a mix without a background needs its sample rate")
    else:
        channels = 1
    length = int(round(duration * rate))
    block = BLOCK_SECONDS * rate
    placed, cut_ms = _place(lines, rate, length)
    spans = [(p.start, p.end) for p in placed]
    voice = _Voice(placed, max(1, int(options.fade * rate)))

    # Match the new voice's level to the original dialogue's, over the lines' slots.
    voice_gain = 1.0
    if hold is not None:
        voice_gain = hold[0]
    elif dialogue_wav is not None:
        slots = [(int(line["start"] * rate), int(line["end"] * rate)) for line in lines if line.get("audio")]
        want = _rms(_slots(dialogue_wav, slots, block))
        have = _rms(voice.render(a, b) for a, b in spans)
        voice_gain = want / have if have > 1e-6 and want > 1e-6 else 1.0

    floor = 10 ** (-options.duck_db / 20)
    attack, release = int(options.duck_attack * rate), int(options.duck_release * rate)

    def beds() -> Iterator[np.ndarray]:
        if background_wav is not None:
            yield from read_wav_blocks(background_wav, block, length)
        else:
            for start in range(0, length, block):
                yield np.zeros((min(block, length - start), 1), np.float32)

    def stems() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(music and effects (samples, channels), dubbed voice (samples,)), block by block:
        the background cut or padded to the programme's length and ducked under the lines."""
        for start, background in zip(range(0, length, block), beds()):
            stop = start + len(background)
            levelled = voice.render(start, stop)
            levelled *= voice_gain
            yield background * _duck_curve(spans, length, floor, attack, release, start, stop)[:, None], levelled

    def mixed() -> Iterator[np.ndarray]:
        return (effects + levelled[:, None] for effects, levelled in stems())

    source_lufs = loudness.loudness_of(read_wav_blocks(source_wav, block), rate) if source_wav is not None else None
    target = options.loudness if options.loudness is not None else source_lufs
    if target is not None and not np.isfinite(target):
        target = -23.0  # a silent source: fall back to the EBU R128 broadcast level
    # The limiter aims a little under the ceiling: lossy encoders (AAC) overshoot peaks.
    ceiling = options.true_peak - CODEC_HEADROOM_DB
    measured = loudness.loudness_of(mixed(), rate) if target is not None else float("nan")
    # Stems get the same overall gain, so dialogue + M&E adds up to the mix (before limiting).
    stem_gain = loudness.gain_factor(target - measured) if np.isfinite(measured) else np.float32(1.0)
    encoder: Encoder | None = None  # the one of the last pass that wrote the files
    written: dict[str, float] = {}
    searched = 0

    def write(gain_db: float) -> float:
        """A pass writing the files with the mix at ``gain_db`` (and encoding it); the
        mix's loudness as written, limiter included."""
        nonlocal encoder
        if encoder is not None:  # a gain the search for the target moved past
            encoder.abort()
        encoder = Encoder(folder / ENCODED_AHEAD[encode], rate, channels, encode, codec_options(encode)) \
            if encode is not None else None
        written["peak"], written["lufs"] = _write(folder, stems(), rate, channels, loudness.gain_factor(gain_db),
                                                  stem_gain, ceiling, encoder)
        written["gain_db"] = gain_db
        return written["lufs"]

    def search(gain_db: float) -> float:
        """The loudness at ``gain_db``, limiter included. The first gain the search for the
        target tries is measured alone (a limiter pass over the mix): it lands when the
        limiter barely touches the mix, and the files are then written at it. Each later
        one is a pass that writes the files, since the last one tried is the mix: not
        written again, and its encoder started a pass earlier (the sample's mix lands on
        the second gain)."""
        nonlocal searched
        searched += 1
        return loudness.limited_loudness(mixed(), rate, gain_db, ceiling) if searched == 1 else write(gain_db)

    try:
        # The mix's gain: held from an earlier mix, found to reach the target, or none (the
        # voice's own level: only the limiter touches it).
        gain_db = hold[1] if hold is not None else 0.0
        if hold is None and target is not None:
            gain_db = loudness.level(mixed, rate, target, ceiling, measured=measured, trial=search).gain_db
        if written.get("gain_db") != gain_db:
            write(gain_db)
        encoded = {"encoded": encoder.finish().name, "codec": encode} if encoder is not None else {}
    except BaseException:
        if encoder is not None:
            encoder.abort()
        raise
    gain_db, lufs, peak = written["gain_db"], written["lufs"], written["peak"]
    return {"mix": "mix.wav", "dialogue": "dialogue_dub.wav", "music_effects": "music_effects.wav",
            "sample_rate": rate, "voice_gain": voice_gain, "samples": length, "source_lufs": source_lufs,
            "target_lufs": target, "lufs": lufs, "true_peak": peak, "cut_ms": cut_ms, "gain_db": gain_db, **encoded}
