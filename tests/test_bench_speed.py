"""bench.speed: how it measures a child, builds its programmes and states its verdicts (nothing timed)."""

import sys

import numpy as np
import pytest

from bench import speed
from bench.diarize import sources_available


def test_a_child_peak_memory_is_its_own_not_the_benchmark_s():
    held = np.ones(300 << 20, dtype=np.uint8)  # 300 MB resident here, in the benchmark
    small = speed.run([sys.executable, "-c", "pass"], "a small child")
    big = speed.run([sys.executable, "-c", "b = b'x' * (200 << 20); print(len(b))"], "a big child")
    assert held.sum() == 300 << 20
    assert small["peak_mb"] < 100
    assert 200 <= big["peak_mb"] < 300
    assert big["stdout"].strip() == str(200 << 20)
    assert big["cpu_s"] >= 0 and big["wall_s"] > 0


def test_a_failing_child_stops_the_benchmark_with_its_error():
    with pytest.raises(SystemExit, match=r"the thing failed \(exit 3\): broken"):
        speed.run([sys.executable, "-c", "import sys; print('broken', file=sys.stderr); sys.exit(3)"], "the thing")


def test_looped_turns_never_come_back_at_a_length_they_had():
    """Lines are cached by text, slot length and voice: a repeated turn must differ in length."""
    rng = np.random.default_rng(0)
    turns = [np.full(16_000 + 1_000 * i, i, np.float32) for i in range(5)]  # each turn marked by its value
    out = speed.looped(turns, 23, rng)
    which = [round(float(t[len(t) // 2])) for t in out]
    assert len(out) == 23
    assert len({(i, len(t)) for i, t in zip(which, out)}) == 23
    for k in range(4):  # every pass holds each turn once
        assert sorted(which[5 * k: 5 * k + 5]) == list(range(5))
    assert len(out[5]) == pytest.approx(len(turns[which[5]]) / 0.98, abs=1)  # the second pass 2 % slower


def test_spread_is_max_over_min_of_the_time_per_minute():
    assert speed.spread([10.0, 11.5, 10.5]) == pytest.approx(0.15)
    assert speed.spread([12.0]) is None


def figures(sample_wall=10.0, floor=4.0, rtfs=(0.5, 0.5), per_minute=(20.0, 23.0)):
    sample = {"wall_s": sample_wall, "media_s": 20.0, "peak_mb": 900.0}
    programmes = [{"name": f"{i} min", "rtf": r, "s_per_min": s, "peak_mb": 1536.0}
                  for i, (r, s) in enumerate(zip(rtfs, per_minute), 1)]
    return {"sample": sample, "cached": {"wall_s": 2.0, "peak_mb": 200.0}, "help": {"wall_s": 1.0},
            "floor": {"wall_s": floor}, "programmes": programmes,
            "spread": speed.spread([p["s_per_min"] for p in programmes])}


def test_figures_on_their_targets_pass_and_just_over_fail():
    on = speed.verdicts(figures())
    assert [r[3] for r in on] == ["PASS"] * 7, on
    over = speed.verdicts(figures(sample_wall=10.01, floor=3.3, rtfs=(0.5, 0.51), per_minute=(20.0, 23.1)))
    assert {r[0]: r[3] for r in over} == {
        "sample wall / clip length": "FAIL", "sample wall / Whisper floor": "FAIL", "cached rerun wall": "PASS",
        "dub --help wall": "PASS", "programme RTF (worst)": "FAIL", "time per minute spread": "FAIL",
        "peak memory of any dub": "PASS"}


def test_one_programme_length_leaves_linearity_unmeasured():
    rows = {r[0]: r for r in speed.verdicts(figures(rtfs=(0.4,), per_minute=(20.0,)))}
    assert rows["time per minute spread"][3] == "not measured"


def test_without_the_recordings_it_says_to_run_make_bench(monkeypatch):
    monkeypatch.setattr(speed, "sources_available", lambda: "LibriVox test recordings missing")
    with pytest.raises(SystemExit, match="make bench"):
        speed.main(["--minutes", "1"])


@pytest.mark.skipif(sources_available() is not None, reason=str(sources_available()))
def test_a_programme_lasts_its_minutes_exactly_with_picture_and_sound(tmp_path):
    from bench.diarize import asterisk_turns, librivox_turns
    from pipelines.media import probe

    info = probe(speed.programme(0.5, librivox_turns(), asterisk_turns(40), tmp_path))
    assert info.has_video
    assert info.audio_duration == pytest.approx(30.0, abs=0.05)


def test_marginal_cost_leaves_the_start_up_out():
    progs = [{"name": "5 min", "media_s": 300.0, "wall_s": 126.0}, {"name": "1 min", "media_s": 60.0, "wall_s": 32.0},
             {"name": "10 min", "media_s": 600.0, "wall_s": 252.0}]
    assert speed.marginal(progs) == [("1 min", "5 min", 23.5), ("5 min", "10 min", 25.2)]
    assert speed.marginal(progs[:1]) == []
