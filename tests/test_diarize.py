"""Speaker diarization on a conversation of two real voices from different recordings.

The LibriVox reader of the pocketsphinx test data and the Asterisk English prompt voice
(Debian packages). The Asterisk Spanish prompts are not used as a second speaker: they
are the same voice talent as the English ones.
"""

import numpy as np
import pytest

from bench.diarize import RATE, asterisk_turns, conversation, librivox_turns, sources_available

pytestmark = pytest.mark.skipif(sources_available() is not None, reason=str(sources_available()))


@pytest.fixture(scope="module")
def dialogue():
    libri = librivox_turns()
    talk = asterisk_turns(len(libri)) + asterisk_turns(3, shortest=0.4, longest=0.79)  # short turns too
    audio, truth = conversation({"librivox": libri, "asterisk": talk}, seed=3)
    return audio, truth


def _agreement(truth: list[str], labels: list[str]) -> float:
    """Fraction of segments whose label matches the truth under the best renaming."""
    from scipy.optimize import linear_sum_assignment

    t_names, l_names = sorted(set(truth)), sorted(set(labels))
    counts = np.zeros((len(t_names), len(l_names)))
    for t, l in zip(truth, labels):
        counts[t_names.index(t), l_names.index(l)] += 1
    rows, cols = linear_sum_assignment(-counts)
    return counts[rows, cols].sum() / len(truth)


def test_conversation_is_realistic(dialogue):
    audio, truth = dialogue
    assert len(truth) >= 20
    assert any(s["end"] - s["start"] < 0.8 for s in truth)
    assert len({s["speaker"] for s in truth}) == 2


def test_auto_count_matches_truth(dialogue):
    from pipelines.diarize import diarize

    audio, truth = dialogue
    labels = diarize(audio, truth)
    assert len(labels) == len(truth)
    assert labels[0] == "S1" and set(labels) <= {f"S{i}" for i in range(1, 9)}
    assert len(set(labels)) == 2
    assert _agreement([s["speaker"] for s in truth], labels) >= 0.85


@pytest.mark.parametrize("count", [1, 2, 3])
def test_forced_count(dialogue, count):
    from pipelines.diarize import diarize

    audio, truth = dialogue
    labels = diarize(audio, truth, num_speakers=count)
    assert len(set(labels)) == count
    if count == 2:
        assert _agreement([s["speaker"] for s in truth], labels) >= 0.85


def test_reference_clips(dialogue):
    from pipelines.diarize import diarize, reference_clips
    from tts_core.voice import embed, similarity

    audio, truth = dialogue
    labels = diarize(audio, truth)
    clips = reference_clips(audio, truth, labels)
    assert set(clips) == set(labels)
    for clip in clips.values():
        assert clip.ndim == 1 and clip.dtype == np.float32
        assert 2.0 <= len(clip) / RATE <= 8.0
    # each clip sounds like its own speaker's segments more than the other's
    by_label = {l: embed(np.concatenate([audio[int(s["start"] * RATE): int(s["end"] * RATE)]
                                         for s, x in zip(truth, labels) if x == l]), RATE) for l in clips}
    for label, clip in clips.items():
        own = similarity(embed(clip, RATE), by_label[label])
        others = [similarity(embed(clip, RATE), e) for l, e in by_label.items() if l != label]
        assert own > max(others)


def test_edge_cases(dialogue):
    from pipelines.errors import UserError
    from pipelines.diarize import diarize

    audio, truth = dialogue
    assert diarize(audio, []) == []
    assert diarize(audio, truth[:1]) == ["S1"]
    with pytest.raises(UserError):
        diarize(audio, truth, num_speakers=0)
    silent = np.zeros(RATE * 3, dtype=np.float32)
    assert diarize(silent, [{"start": 0.5, "end": 2.0}, {"start": 2.2, "end": 2.9}]) == ["S1", "S1"]
