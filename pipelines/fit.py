"""The timing fit planner: decide each line's slot over the whole timeline.

Peers make translated speech fit by speeding it up afterwards (often past 2x), cutting
the overflow or dropping lines. Here every line is generated to its slot, so the planner
decides the slots, keeping each line's pace natural. For a line whose pace would leave
the comfort band, in this order:

1. a slot too long for the words is shortened to the slowest comfortable pace, keeping
   its start (where the mouth starts moving) - the rest is silence, not drawled speech;
2. a slot too short borrows silence from the gap after it, then at most 0.1 s of the gap
   before it (never overlapping a neighbour, never past the next line's start): a line
   starts where its source speech starts;
3. a rewriting translator may be asked for a shorter/longer line (the caller does this
   and re-plans that line);
4. a pace up to the hard bounds is accepted;
5. what still cannot fit is generated at the pace it needs and reported, with why.

Nothing is truncated and no line is dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FitOptions:
    comfort: tuple[float, float] = (0.85, 1.2)  # pace (slot / natural length) that sounds natural
    hard: tuple[float, float] = (0.6, 1.6)  # the most the planner accepts before reporting
    guard: float = 0.08  # seconds of silence kept between two lines
    max_borrow_after: float = 1.0  # seconds a line may run on past its slot
    # Seconds a line may start before its source speech. Sound ahead of the lips is noticed
    # sooner than sound behind them (ITU-R BT.1359: detectable from about 45 ms ahead,
    # 125 ms behind), so a line borrows after its slot first and only this little before.
    max_borrow_before: float = 0.1


@dataclass(frozen=True)
class FittedLine:
    index: int
    start: float  # the planned slot
    end: float
    source_start: float  # the slot the source line had
    source_end: float
    natural: float  # seconds of speech the voice takes on its own (no edge silence)
    rate: float  # planned slot / natural (1 = natural pace, < 1 faster)
    borrowed_ms: float  # silence taken from the gaps around the line
    status: str  # "ok", "shortened", "borrowed", "fast", "slow", "over" (outside the hard bounds)
    why: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def fit_timeline(segments: list[dict], naturals: list[float], options: FitOptions = FitOptions(),
                 end_of_programme: float | None = None) -> list[FittedLine]:
    """Plan every line's slot. ``segments`` carry "start"/"end" (sorted, not overlapping);
    ``naturals`` are the voice's natural lengths of the lines to be spoken."""
    lo, hi = options.comfort
    hard_lo, hard_hi = options.hard
    fitted: list[FittedLine] = []
    prev_end = 0.0
    for i, (seg, natural) in enumerate(zip(segments, naturals)):
        start, end = float(seg["start"]), float(seg["end"])
        next_start = float(segments[i + 1]["start"]) if i + 1 < len(segments) else (
            end_of_programme if end_of_programme is not None else end + options.max_borrow_after)
        earliest = max(prev_end + options.guard if fitted else 0.0, start - options.max_borrow_before)
        latest = min(next_start - options.guard, end + options.max_borrow_after)
        latest = max(latest, end)  # the line's own slot is always available
        slot = end - start
        natural = max(natural, 1e-3)
        status, why, borrowed = "ok", "", 0.0
        if slot / natural > hi:
            end = start + natural * hi
            status = "shortened"
        elif slot / natural < lo:
            want = natural * lo
            extra = min(want - slot, latest - end)
            end += max(0.0, extra)
            borrowed += max(0.0, extra)
            if end - start < want:
                extra = min(want - (end - start), start - earliest)
                start -= max(0.0, extra)
                borrowed += max(0.0, extra)
            if end - start >= want - 1e-9:
                status = "borrowed" if borrowed else "ok"
            elif (end - start) / natural >= hard_lo:
                status = "fast"
                why = f"needs pace {(end - start) / natural:.2f}, below the comfort band even after borrowing"
            else:
                status = "over"
                why = (f"{natural:.2f}s of speech in a {end - start:.2f}s slot (pace {(end - start) / natural:.2f}) "
                       f"even after borrowing {borrowed * 1000:.0f} ms: rewrite the line shorter")
        rate = (end - start) / natural
        if status == "ok" and not (lo <= rate <= hi):
            status = "slow" if rate > hi else "fast"
        if status not in ("over",) and rate > hard_hi:
            status, why = "over", f"pace {rate:.2f} above the hard bound"
        fitted.append(FittedLine(index=i, start=round(start, 4), end=round(end, 4), source_start=float(seg["start"]),
                                 source_end=float(seg["end"]), natural=round(natural, 4), rate=round(rate, 4),
                                 borrowed_ms=round(borrowed * 1000, 1), status=status, why=why))
        prev_end = end
    return fitted
