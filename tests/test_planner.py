import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tts_core.planner import ELASTICITY, plan_durations

KINDS = list(ELASTICITY)


def test_lands_exactly_on_target_and_keeps_one_frame_each():
    natural = [2.3, 0.4, 6.1, 1.2, 3.3, 0.9, 7.5]
    kinds = ["pause", "pad", "vowel", "pad", "consonant", "mark", "pause"]
    for target in range(7, 80):
        plan = plan_durations(natural, kinds, target)
        assert plan.frames.sum() == target
        assert plan.frames.min() >= 1


def test_pauses_absorb_more_of_a_squeeze_than_consonants():
    natural = [10.0, 10.0, 10.0]
    plan = plan_durations(natural, ["pause", "vowel", "consonant"], 18)
    pause, vowel, consonant = plan.frames
    assert pause < vowel < consonant
    stretched = plan_durations(natural, ["pause", "vowel", "consonant"], 45)
    assert stretched.frames[0] > stretched.frames[1] > stretched.frames[2]


def test_natural_target_keeps_the_rhythm():
    natural = np.array([3.0, 1.0, 5.0, 2.0, 4.0])
    plan = plan_durations(natural, ["vowel"] * 5, 15)
    assert list(plan.frames) == [3, 1, 5, 2, 4]
    assert plan.within_bounds and plan.rate == pytest.approx(1.0)


def test_rate_outside_bounds_is_flagged_not_refused():
    natural = [10.0] * 4
    fast = plan_durations(natural, ["vowel"] * 4, 12)
    slow = plan_durations(natural, ["vowel"] * 4, 100)
    assert not fast.within_bounds and fast.rate == pytest.approx(0.3)
    assert not slow.within_bounds and slow.frames.sum() == 100


def test_target_shorter_than_token_count_lets_blanks_vanish():
    kinds = ["pause", "pad", "vowel", "pad", "consonant", "pad", "pause"]
    plan = plan_durations([1.0] * 7, kinds, 3)
    assert plan.frames.sum() == 3
    assert plan.frames[2] >= 1 and plan.frames[4] >= 1


def test_bad_requests_raise():
    with pytest.raises(ValueError):
        plan_durations([], [], 5)
    with pytest.raises(ValueError):
        plan_durations([1.0], ["vowel"], 0)
    with pytest.raises(ValueError):
        plan_durations([1.0, 2.0], ["vowel"], 5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 40.0), st.sampled_from(KINDS)), min_size=1, max_size=120),
    st.integers(1, 3000),
)
def test_any_plan_sums_to_target(tokens, target):
    natural = [n for n, _ in tokens]
    kinds = [k for _, k in tokens]
    plan = plan_durations(natural, kinds, target)
    assert plan.frames.sum() == target
    assert (plan.frames >= 0).all()
    if target >= len(tokens):
        assert plan.frames.min() >= 1
    # The fractions a backend like Kokoro renders sum to the same whole count.
    assert abs(plan.durations.sum() - target) < 1e-6 and (plan.durations >= -1e-9).all()


def test_a_backend_may_bring_its_own_weights():
    natural, kinds = [4.0, 4.0], ["consonant", "pause"]
    default = plan_durations(natural, kinds, 6)
    even = plan_durations(natural, kinds, 6, elasticity={"consonant": 1.0, "pause": 1.0})
    assert default.durations[0] > default.durations[1]  # the pause gives up more by default
    assert even.durations == pytest.approx([3.0, 3.0])


def test_edge_silence_gets_no_time_and_sets_the_natural_length():
    """The model's padding (a start token, the hold inside the last phoneme, a closing pause)
    is planned to nothing at any target; pauses inside the line stay, scaled with it."""
    natural = [12.0, 3.0, 4.0, 2.0, 3.0, 23.0, 6.0, 1.0]
    kinds = ["pause", "consonant", "vowel", "pause", "consonant", "vowel", "pause", "pause"]
    edge = [12.0, 0, 0, 0, 0, 19.0, 6.0, 1.0]  # the final vowel holds 4 frames of sound
    speech = 3 + 4 + 2 + 3 + 4
    for target in (speech, 12, 20, 30):
        plan = plan_durations(natural, kinds, target, edge=edge, elasticity={k: 1.0 for k in kinds})
        assert plan.frames.sum() == target and abs(plan.durations.sum() - target) < 1e-6
        assert plan.frames[[0, 6, 7]].tolist() == [0, 0, 0] and np.allclose(plan.durations[[0, 6, 7]], 0.0)
        assert plan.natural == speech and plan.rate == pytest.approx(target / speech)
        assert plan.frames[3] >= 1  # the pause inside the line stays
    same = plan_durations(natural, kinds, speech, edge=edge, elasticity={k: 1.0 for k in kinds})
    assert same.durations == pytest.approx([0, 3, 4, 2, 3, 4, 0, 0])


def test_edge_that_leaves_a_sliver_of_a_token_keeps_no_whole_frame_floor():
    plan = plan_durations([5.0, 2.0, 3.0], ["pause", "vowel", "consonant"], 3, edge=[4.8, 0.0, 0.0])
    assert plan.durations[0] < 0.5 and plan.frames.sum() == 3


def test_all_edge_is_refused():
    with pytest.raises(ValueError):
        plan_durations([2.0, 3.0], ["pause", "pause"], 4, edge=[2.0, 3.0])
