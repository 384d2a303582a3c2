"""The whole-timeline fit planner."""

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.fit import FitOptions, fit_timeline


def seg(a, b):
    return {"start": a, "end": b}


def test_comfortable_lines_keep_their_slots():
    lines = fit_timeline([seg(1.0, 3.0), seg(4.0, 6.0)], [2.0, 1.9])
    assert [(l.start, l.end, l.status) for l in lines] == [(1.0, 3.0, "ok"), (4.0, 6.0, "ok")]


def test_long_slot_is_shortened_not_drawled():
    (line,) = fit_timeline([seg(2.0, 8.0)], [2.0])
    assert line.start == 2.0 and line.end == 2.0 + 2.0 * 1.2 and line.status == "shortened"


def test_short_slot_borrows_after_then_before_without_overlap():
    lines = fit_timeline([seg(0.0, 1.0), seg(1.6, 2.6), seg(2.7, 4.0)], [0.9, 1.4, 1.0])
    first, middle, last = lines
    assert middle.status == "borrowed" and middle.borrowed_ms > 0
    assert first.end + 0.08 <= middle.start + 1e-9 and middle.end + 0.08 <= last.start + 1e-9
    assert middle.end - middle.start >= 1.4 * 0.85 - 1e-9


def test_impossible_line_is_reported_not_cut():
    (a, b) = fit_timeline([seg(0.0, 0.5), seg(0.6, 1.0)], [3.0, 0.4])
    assert a.status == "over" and "rewrite" in a.why
    assert a.end <= b.start and a.end > 0.5  # still placed, borrowing what it could


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.05, 5.0), st.floats(0.0, 3.0), st.floats(0.2, 6.0)), min_size=1, max_size=25))
def test_never_overlaps_and_never_drops(items):
    segments, naturals, t = [], [], 0.0
    for length, gap, natural in items:
        t += gap
        segments.append(seg(t, t + length))
        naturals.append(natural)
        t += length
    lines = fit_timeline(segments, naturals, FitOptions(), end_of_programme=t + 1.0)
    assert len(lines) == len(segments)
    for line in lines:
        assert line.end > line.start
    for a, b in zip(lines, lines[1:]):
        assert a.end <= b.start + 1e-6
