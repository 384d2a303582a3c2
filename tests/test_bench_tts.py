"""The paired comparison bench.tts prints beside A's and B's corpus figures."""

import numpy as np
import pytest

from bench.tts import paired_interval, word_errors


def test_word_errors_normalise_as_the_corpus_wer_does():
    assert word_errors("He climbed one hundred steps.", "he climbed 100 steps") == 0
    assert word_errors("The bakery sells bread until nine at night.", "the bakery sells bread until minute night") == 2
    assert word_errors("Run!", "") == 1


def test_identical_methods_give_no_difference():
    errors = [0, 2, 1, 0, 3]
    assert paired_interval(errors, errors) == (0.0, 0.0, 0.0)


def test_a_consistent_difference_is_outside_the_interval_of_none():
    a = [2, 3, 2, 4, 3, 2, 3, 2, 3, 4] * 5
    b = [0, 1, 0, 1, 0, 0, 1, 0, 1, 1] * 5
    total, low, high = paired_interval(a, b)
    assert total == float(sum(a) - sum(b))
    assert 0.0 < low <= total <= high


def test_one_lucky_sentence_is_within_noise():
    # A loses one more word in one sentence of fifty: that says nothing either way.
    a = [0] * 49 + [1]
    b = [0] * 50
    total, low, high = paired_interval(a, b)
    assert total == 1.0 and low <= 0.0 <= high


def test_the_interval_is_reproducible_and_needs_sentences():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 40).tolist(), rng.integers(0, 4, 40).tolist()
    assert paired_interval(a, b) == paired_interval(a, b)
    with pytest.raises(ValueError):
        paired_interval([], [])
