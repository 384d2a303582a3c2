"""The duration planner: a target length in frames -> a whole number of frames per token.

The model's own (fractional) durations carry its rhythm. Changing every token by the same
factor was measured to hurt intelligibility when compressing: short consonants collapse to
one frame. So each kind of token gets an elasticity: pauses and punctuation absorb most of
the change, vowels follow, consonants stay near their natural length. The same weights
apply in reverse when stretching (held vowels and longer pauses, not slow plosives).

The silence a model pads its speech with (a start token, the hold after the last phoneme,
a closing pause) is not speech: the backend says how much of each token's natural length
it is (``edge``), and the planner gives that part no time at all, whatever the target, so a
line's speech starts and ends with its slot. Pauses inside the line stay, scaled with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Log-scale elasticity: a token of kind k is scaled by exp(ELASTICITY[k] * x) for one
# shared x, found so the total lands on the target.
ELASTICITY: dict[str, float] = {
    "pause": 2.0,  # punctuation, word gaps, sentence start/end
    "pad": 1.0,  # the blank between two phonemes (carries transitions)
    "vowel": 1.0,
    "mark": 0.6,  # stress, length and other modifiers
    "consonant": 0.35,
}

# Outside this band of the natural rate speech stops sounding natural; the caller is told
# (Plan.within_bounds) so it can re-plan the slot or rewrite the line.
RATE_BOUNDS = (0.5, 2.0)


@dataclass(frozen=True)
class Plan:
    frames: np.ndarray  # int64, one whole frame count per token, sums to `target`
    target: int  # the frame count asked for
    natural: float  # the model's own length of the speech (edge silence excluded), in frames
    within_bounds: bool  # False when target/natural is outside RATE_BOUNDS
    # The same plan before rounding: fractional frames per token, summing to `target`, for
    # a backend that renders fractions (``Backend.fractional_frames``).
    durations: np.ndarray

    @property
    def rate(self) -> float:
        """Target length over natural length: below 1 is faster speech."""
        return self.target / self.natural if self.natural > 0 else float("inf")


def _continuous(natural: np.ndarray, weights: np.ndarray, floor: np.ndarray, target: float) -> np.ndarray:
    def total(x: float) -> tuple[float, np.ndarray]:
        d = np.maximum(floor, natural * np.exp(weights * x))
        return float(d.sum()), d

    lo, hi = -12.0, 12.0
    d = natural
    for _ in range(80):  # bisection: the total grows monotonically with x
        mid = (lo + hi) / 2
        s, d = total(mid)
        if abs(s - target) < 1e-6:
            break
        if s < target:
            lo = mid
        else:
            hi = mid
    return d


def _round_to_total(x: np.ndarray, floor: np.ndarray, target: int, absent: np.ndarray) -> np.ndarray:
    """Whole numbers near ``x``, each >= floor, that sum exactly to ``target``; an
    ``absent`` token stays at zero."""
    floor = np.floor(floor)
    base = np.maximum(floor, np.floor(x)).astype(np.int64)
    diff = target - int(base.sum())
    remainder = np.where(absent, -np.inf, x - base)
    while diff > 0:
        order = np.argsort(-remainder, kind="stable")[:diff]
        base[order] += 1
        remainder[order] -= 1
        diff = target - int(base.sum())
    while diff < 0:
        can = np.flatnonzero(base > floor)
        order = can[np.argsort(remainder[can], kind="stable")][: -diff]
        base[order] -= 1
        remainder[order] += 1
        diff = target - int(base.sum())
    return base


def plan_durations(
    natural: Sequence[float] | np.ndarray,
    kinds: Sequence[str],
    target_frames: int,
    *,
    min_frames: int | dict[str, int] = 1,
    rate_bounds: tuple[float, float] = RATE_BOUNDS,
    reference: float | None = None,
    elasticity: dict[str, float] | None = None,
    edge: Sequence[float] | np.ndarray | None = None,
) -> Plan:
    """Spread ``target_frames`` over the tokens, keeping the model's rhythm.

    ``edge`` is, per token, how much of its natural duration is the model's silence before
    or after the speech (see ``tts_core.silence.trim_edges``): that part gets no frames, a
    token that is all edge gets none, and one partly edge keeps no more than its speech as
    its floor. ``reference`` is the length the rate is measured against (default: the sum
    of the natural durations less the edges). Every token keeps at least ``min_frames``
    while that is possible. When the target is shorter than that, blanks and pauses are
    allowed to vanish first, then anything.
    """
    nat = np.asarray(natural, dtype=np.float64).reshape(-1)
    if len(nat) != len(kinds):
        raise ValueError(f"{len(nat)} durations for {len(kinds)} token kinds")
    if len(nat) == 0:
        raise ValueError("no tokens to plan")
    if target_frames < 1:
        raise ValueError(f"target must be at least one frame, got {target_frames}")
    nat = np.maximum(nat, 0.0)
    cut = np.zeros(len(nat)) if edge is None else np.clip(np.asarray(edge, dtype=np.float64).reshape(-1), 0.0, nat)
    if len(cut) != len(nat):
        raise ValueError(f"{len(cut)} edge durations for {len(nat)} tokens")
    speech = nat - cut
    absent = (cut > 0) & (speech <= 1e-6)
    if absent.all():
        raise ValueError("every token is edge silence: nothing to plan")
    table = ELASTICITY if elasticity is None else elasticity
    weights = np.array([table.get(k, 1.0) for k in kinds])
    if isinstance(min_frames, dict):
        floor = np.array([float(min_frames.get(k, 1)) for k in kinds])
    else:
        floor = np.full(len(nat), float(min_frames))
    # A token cut down by the edge keeps at most its speech as its floor (a final vowel of
    # 24 frames may hold 2 of sound); one that is all edge vanishes.
    floor = np.where(cut > 0, np.minimum(floor, speech), floor)
    if floor.sum() > target_frames:
        soft = np.array([k in ("pad", "pause") for k in kinds])
        floor[soft] = 0.0
        if floor.sum() > target_frames:
            floor[:] = 0.0
    # A token the model gives no time at all still gets some of the scaled share.
    x = _continuous(np.where(absent, 0.0, np.maximum(speech, 1e-3)), weights, floor, float(target_frames))
    frames = _round_to_total(x, floor, target_frames, absent)
    # The bisection lands within 1e-6 of the target; spread what is left so the fractions
    # sum to the frame count exactly (the alignment built from them must be that long).
    fractions = x + (target_frames - x.sum()) * x / x.sum()
    natural_total = float(speech.sum()) if reference is None else float(reference)
    rate = target_frames / natural_total if natural_total > 0 else float("inf")
    ok = rate_bounds[0] <= rate <= rate_bounds[1]
    return Plan(frames=frames, target=target_frames, natural=natural_total, within_bounds=ok, durations=fractions)
