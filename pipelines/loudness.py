"""Programme loudness (ITU-R BS.1770-4 / EBU R128), true peak, and a true-peak limiter.

Written out here (a couple of hundred lines) rather than taken from a package so the mix
stage has no extra dependency; the tests check it against ffmpeg's ebur128 filter.

Everything works on a signal given block by block ((samples,) or (samples, channels)
pieces in order), so an hours-long programme is never in memory whole: the meter carries
its filter state and per-100 ms sums from block to block, the true-peak meter and the
limiter see each block with enough of its neighbours for their filters, and the limiter
carries its release. The whole-array functions are the one-block case.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the absolute-gated loudness
OVERSAMPLE = 4  # true peak: the peak of the signal oversampled 4x (BS.1770 Annex 2)
# resample_poly's filter at 4x reaches 10 input samples either side; a little more to be safe.
RESAMPLE_REACH = 16

# A fresh pass over a signal, block by block (a long one is read again from its files).
Source = Callable[[], Iterable[np.ndarray]]


def _frames(block: np.ndarray) -> np.ndarray:
    """A block as (samples, channels)."""
    return block[:, None] if block.ndim == 1 else block


def _k_weighting(rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads (high shelf, then high pass) for any sample rate, from
    the analogue prototypes of BS.1770 (bilinear transform, as in the reference code)."""
    # Stage 1: high-shelf, +4 dB above ~1.5 kHz.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    b1 = np.array([vh + vb * k / q + k * k, 2 * (k * k - vh), vh - vb * k / q + k * k]) / a0
    a1 = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    # Stage 2: high-pass at ~38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    b2 = np.array([1.0, -2.0, 1.0])
    a2 = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    return [(b1, a1), (b2, a2)]


class LoudnessMeter:
    """Integrated loudness of a signal fed block by block. All channels are weighted 1.0
    (mono, stereo). Only one number per 100 ms is kept: the gating blocks (400 ms, every
    100 ms) are sums of four of them."""

    def __init__(self, rate: int):
        # Both biquads in one sosfilt call: five times faster on stereo than two lfilter calls.
        self._sos = np.array([np.concatenate([b, a]) for b, a in _k_weighting(rate)])
        self._state: np.ndarray | None = None  # the filters' state, once the channels are known
        self._step = int(0.1 * rate)
        self._steps: list[float] = []  # energy (sum of squares, all channels) of each whole 100 ms
        self._partial = 0.0  # energy of the 100 ms being filled
        self._filled = 0  # samples in it

    def add(self, block: np.ndarray) -> None:
        x = _frames(np.asarray(block, dtype=np.float64))
        if self._state is None:
            self._state = np.zeros((len(self._sos), 2, x.shape[1]))
        from scipy.signal import sosfilt  # scipy.signal takes a second to import: only when measuring

        x, self._state = sosfilt(self._sos, x, axis=0, zi=self._state)
        energy = (x * x).sum(axis=1)
        head = min(len(energy), self._step - self._filled)
        self._partial += float(energy[:head].sum())
        self._filled += head
        if self._filled < self._step:
            return
        self._steps.append(self._partial)
        rest = energy[head:]
        whole = len(rest) // self._step * self._step
        self._steps.extend(rest[:whole].reshape(-1, self._step).sum(axis=1).tolist())
        self._partial, self._filled = float(rest[whole:].sum()), len(rest) - whole

    def value(self) -> float:
        """LUFS so far (-inf for silence, or less than 400 ms)."""
        steps = np.asarray(self._steps)
        if len(steps) < 4:
            return float("-inf")
        power = (steps[:-3] + steps[1:-2] + steps[2:-1] + steps[3:]) / (4 * self._step)
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10 * np.log10(power)
        gated = power[loudness > ABSOLUTE_GATE]
        if not len(gated):
            return float("-inf")
        relative = -0.691 + 10 * np.log10(gated.mean()) + RELATIVE_GATE
        final = gated[-0.691 + 10 * np.log10(gated) > relative]
        return float(-0.691 + 10 * np.log10(final.mean()))


def loudness_of(blocks: Iterable[np.ndarray], rate: int) -> float:
    """Integrated loudness in LUFS of a signal given block by block."""
    meter = LoudnessMeter(rate)
    for block in blocks:
        meter.add(block)
    return meter.value()


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS (-inf for silence). ``audio``: (samples,) or (samples, channels);
    all channels are weighted 1.0 (mono, stereo)."""
    return loudness_of([audio], rate)


class _Overlap:
    """Cuts a signal given block by block into contiguous pieces, each handed out with up to
    ``before`` samples of the signal before it and ``after`` after it (fewer only at the
    signal's ends): what a filter that looks back and ahead needs to give, piece by piece,
    what it gives on the whole signal. A piece is ``(segment, start, stop)``:
    ``segment[start:stop]``, with its context around it."""

    def __init__(self, before: int, after: int):
        self.before, self.after = before, after
        self._buffer: np.ndarray | None = None  # context already handed out, then samples not yet
        self._lead = 0  # samples of the buffer that are context only

    def push(self, block: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
        block = _frames(block)
        self._buffer = block if self._buffer is None else np.concatenate([self._buffer, block])
        return self._cut(len(self._buffer) - self.after)

    def end(self) -> list[tuple[np.ndarray, int, int]]:
        return [] if self._buffer is None else self._cut(len(self._buffer))

    def _cut(self, stop: int) -> list[tuple[np.ndarray, int, int]]:
        if self._buffer is None or stop <= self._lead:
            return []
        piece = (self._buffer, self._lead, stop)
        keep = max(0, stop - self.before)
        self._buffer, self._lead = self._buffer[keep:], stop - keep
        return [piece]


# Stretches of this many samples are oversampled, or not, together (see _sample_peaks).
CHUNK = 2048


@functools.lru_cache(maxsize=1)
def _overshoot() -> float:
    """The most an oversampled point can exceed the largest input sample near it: each of
    the 4 points between two samples is a weighted sum of the samples around it, so it is
    at most (the sum of that phase's |weights|) x their largest magnitude. Read from
    resample_poly's own response to an impulse, with a hair for float32 rounding."""
    from scipy.signal import resample_poly

    impulse = np.zeros(4 * RESAMPLE_REACH, np.float32)
    impulse[2 * RESAMPLE_REACH] = 1.0
    response = np.abs(resample_poly(impulse, OVERSAMPLE, 1).astype(np.float64))
    return max(float(response[k::OVERSAMPLE].sum()) for k in range(OVERSAMPLE)) * 1.001


def _sample_peaks(frame: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Each sample's true peak: the largest magnitude among its 4x oversampled points, over
    all channels. Oversampled in float32: plenty to find a peak, and three times faster.

    Only where a peak can be above ``floor``: a stretch whose largest sample (with the
    filter's reach around it) times ``_overshoot`` is at most ``floor`` is not oversampled
    and reads 0 (a limiter leaves what is under its ceiling alone, and a meter's maximum
    does not move for what is under it). A mix at broadcast loudness is mostly such
    stretches, and oversampling was the largest part of the mix stage's time."""
    frame = frame[:, None] if frame.ndim == 1 else frame
    n = len(frame)
    peak = np.zeros(n, np.float32)
    if not n:
        return peak.astype(np.float64)
    loud = np.abs(frame).max(axis=1)
    edges = np.arange(0, n, CHUNK)
    # Each chunk's largest sample, widened by the reach on both sides (the chunks next to it).
    most = np.maximum.reduceat(loud, edges)
    near = most.copy()
    near[1:] = np.maximum(near[1:], most[:-1])
    near[:-1] = np.maximum(near[:-1], most[1:])
    wanted = near * _overshoot() > floor
    # Runs of chunks to oversample, each with the filter's reach of context around it.
    flips = np.flatnonzero(np.diff(np.concatenate([[0], wanted.astype(np.int8), [0]])))
    from scipy.signal import resample_poly

    for first, last in zip(flips[0::2], flips[1::2]):
        a, b = first * CHUNK, min(n, last * CHUNK)
        lo, hi = max(0, a - RESAMPLE_REACH), min(n, b + RESAMPLE_REACH)
        for channel in frame[lo:hi].T:
            if not channel.any():  # silence (a stem between lines) oversamples to silence
                continue
            up = np.abs(resample_poly(channel.astype(np.float32), OVERSAMPLE, 1))
            # The 4 points of each sample are every 4th value; pairwise maxima are much faster than max(axis=1).
            points = np.maximum(np.maximum(up[0::4], up[1::4]), np.maximum(up[2::4], up[3::4]))
            np.maximum(peak[a:b], points[a - lo: b - lo], out=peak[a:b])
    return peak.astype(np.float64)


class TruePeakMeter:
    """True peak (4x oversampled sample peak, BS.1770 Annex 2) of a signal fed block by block."""

    def __init__(self):
        self._overlap = _Overlap(RESAMPLE_REACH, RESAMPLE_REACH)
        self._peak = 0.0

    def add(self, block: np.ndarray) -> None:
        self._measure(self._overlap.push(block))

    def value(self) -> float:
        """dBTP of everything added (-inf for silence)."""
        self._measure(self._overlap.end())
        return 20 * np.log10(self._peak) if self._peak > 0 else float("-inf")

    def _measure(self, pieces: list[tuple[np.ndarray, int, int]]) -> None:
        for segment, start, stop in pieces:
            self._peak = max(self._peak, float(_sample_peaks(segment, self._peak)[start:stop].max()))


def true_peak(audio: np.ndarray) -> float:
    """True peak in dBTP (4x oversampled sample peak)."""
    meter = TruePeakMeter()
    meter.add(np.asarray(audio))
    return meter.value()


def _sliding_min(values: np.ndarray, width: int) -> np.ndarray:
    """Minimum over the next ``width`` samples (a look-ahead window)."""
    from scipy.ndimage import minimum_filter1d

    return minimum_filter1d(values, size=width, origin=-(width // 2), mode="nearest")


class Limiter:
    """A look-ahead true-peak limiter. The gain wanted at each sample (ceiling / its true
    peak) is held over the look-ahead window and then averaged over the same window, so the
    gain glides down before a peak and is at or under what the peak needs when it arrives;
    after it, the attenuation decays exponentially over ``release`` seconds (a peak hold
    with release: a short burst no longer lets the gain snap back within a sample, which
    modulated the signal and put peaks back over the ceiling). Quiet passages are untouched.

    Fed block by block, it gives out the limited signal (float32, the blocks' layout) in
    pieces that lag the input by its look-ahead: each piece is limited with enough of the
    signal around it, and the release carried over, to be what the whole signal limited
    at once would hold there (to float rounding: the release is computed in spans anchored
    at fixed sample positions, whatever the blocks)."""

    SPAN = 4096  # samples of the release computed together (see _release)

    def __init__(self, rate: int, ceiling_db: float = -1.0, lookahead: float = 0.005, release: float = 0.08):
        self._ceiling = 10 ** (ceiling_db / 20) * 0.995  # a hair of margin for the reconstruction filter
        self._window = 2 * max(1, int(lookahead * rate)) + 1
        self._tau = max(1.0, release * rate)  # samples for the attenuation to fall by e
        self._position = 0  # absolute index of the next gain sample
        self._running = -np.inf  # the release's running maximum within the current span (log domain)
        # The hold looks less than a window ahead, the average less than one behind, the oversampling filter a few samples.
        context = self._window + RESAMPLE_REACH
        self._overlap = _Overlap(context, context)
        self._mono: bool | None = None

    def push(self, block: np.ndarray) -> list[np.ndarray]:
        self._mono = np.ndim(block) == 1
        return [self._limit(*piece) for piece in self._overlap.push(block)]

    def end(self) -> list[np.ndarray]:
        return [self._limit(*piece) for piece in self._overlap.end()]

    def _limit(self, segment: np.ndarray, start: int, stop: int) -> np.ndarray:
        from scipy.ndimage import uniform_filter1d

        wanted = np.minimum(1.0, self._ceiling / np.maximum(_sample_peaks(segment, self._ceiling), 1e-12))
        held = _sliding_min(wanted, self._window)  # each sample: the least gain of the window ahead
        # Averaged over the window behind: every hold averaged into a sample's gain looks ahead
        # over that sample, so the glide is never above what the sample needs.
        gain = uniform_filter1d(held, self._window, origin=self._window // 2, mode="nearest")[start:stop]
        gain = 1.0 - self._release(1.0 - gain)
        out = (segment[start:stop] * gain[:, None]).astype(np.float32)
        return out[:, 0] if self._mono else out

    def _release(self, attenuation: np.ndarray) -> np.ndarray:
        """e[n] = max(a[n], e[n-1] * exp(-1/tau)), vectorised: in logs, within a span anchored
        at sample k0, log e[n] = cummax(log a[j] + (j - k0)/tau) - (n - k0)/tau, the running
        maximum carried from sample to sample and from span to span."""
        out = np.empty_like(attenuation)
        with np.errstate(divide="ignore"):
            logs = np.log(np.maximum(attenuation, 0.0))
        done = 0
        while done < len(logs):
            offset = self._position % self.SPAN
            n = min(len(logs) - done, self.SPAN - offset)
            ramp = np.arange(offset, offset + n) / self._tau
            lifted = np.maximum.accumulate(np.maximum(logs[done:done + n] + ramp, self._running))
            out[done:done + n] = np.exp(lifted - ramp)
            self._running = lifted[-1]
            self._position += n
            done += n
            if self._position % self.SPAN == 0:  # a new span: re-anchor the carried maximum
                self._running -= self.SPAN / self._tau
        return out


def limited(blocks: Iterable[np.ndarray], rate: int, ceiling_db: float = -1.0) -> Iterator[np.ndarray]:
    """A signal given block by block, through the ``Limiter``."""
    limiter = Limiter(rate, ceiling_db)
    for block in blocks:
        yield from limiter.push(block)
    yield from limiter.end()


def _joined(pieces: Iterable[np.ndarray], like: np.ndarray) -> np.ndarray:
    parts = list(pieces)
    return np.concatenate(parts) if parts else np.asarray(like, dtype=np.float32)


def limit(audio: np.ndarray, rate: int, ceiling_db: float = -1.0, lookahead: float = 0.005,
          release: float = 0.08) -> np.ndarray:
    """The ``Limiter`` over a whole signal."""
    limiter = Limiter(rate, ceiling_db, lookahead, release)
    return _joined([*limiter.push(np.asarray(audio)), *limiter.end()], audio)


def gain_factor(gain_db: float) -> np.float32:
    return np.float32(10 ** (gain_db / 20))


def _gained(blocks: Iterable[np.ndarray], gain_db: float) -> Iterator[np.ndarray]:
    factor = gain_factor(gain_db)
    for block in blocks:
        yield np.asarray(block, dtype=np.float32) * factor


@dataclass(frozen=True)
class Level:
    """The gain that brings a signal, through the limiter, to a target loudness."""

    measured: float  # the signal's own loudness, LUFS (-inf: silent or too short to measure)
    gain_db: float  # applied before the limiter (0 when it could not be measured)
    lufs: float  # the loudness once gained and limited

    @property
    def factor(self) -> np.float32:
        return gain_factor(self.gain_db)


def limited_loudness(blocks: Iterable[np.ndarray], rate: int, gain_db: float, ceiling_db: float = -1.0) -> float:
    """The loudness of a signal given block by block once gained by ``gain_db`` and limited."""
    return loudness_of(limited(_gained(blocks, gain_db), rate, ceiling_db), rate)


def level(source: Source, rate: int, target_lufs: float, ceiling_db: float = -1.0, passes: int = 4, *,
          measured: float | None = None, trial: Callable[[float], float] | None = None) -> Level:
    """Gain to ``target_lufs`` then true-peak limiting; the loudness lost to the limiter is
    made up over a few passes (``passes`` >= 1), each a fresh pass over ``source``.
    ``measured``: the source's loudness, when the caller has it. ``trial(gain_db)``: the
    loudness once gained and limited, made by the caller (the remix writes its files in
    each trial, so the last one is the mix); by default a pass over ``source``."""
    measured = loudness_of(source(), rate) if measured is None else measured
    if not np.isfinite(measured):
        return Level(measured, 0.0, measured)
    if trial is None:
        def trial(gain_db: float) -> float:
            return limited_loudness(source(), rate, gain_db, ceiling_db)
    gain_db = target_lufs - measured
    for attempt in range(passes):
        now = trial(gain_db)
        if abs(now - target_lufs) < 0.1 or attempt == passes - 1:
            break
        gain_db += target_lufs - now
    return Level(measured, gain_db, now)


def normalize(audio: np.ndarray, rate: int, target_lufs: float, ceiling_db: float = -1.0,
              passes: int = 4) -> tuple[np.ndarray, float, float]:
    """``level`` and the limiter over a whole signal. Returns (audio, loudness, true peak)."""
    x = np.asarray(audio, dtype=np.float32)
    found = level(lambda: [x], rate, target_lufs, ceiling_db, passes)
    out = _joined(limited([x * found.factor], rate, ceiling_db), x)
    return out, found.lufs, true_peak(out)
