"""bench.pace: its sentences, the peers' speed-up (B) and the summary it prints."""

import shutil

import numpy as np
import pytest

from bench.pace import Clip, load_sentences, peer_fit, report, sentences_path, summarise
from tts_core.silence import speech_span

RATE = 24_000


def test_the_spanish_sentences_are_sixty_distinct_lines_without_digits():
    lines = sentences_path("es").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 60 and all(line.strip() for line in lines)
    assert len(set(lines)) == 60
    assert load_sentences(sentences_path("es")) == lines
    assert not any(ch.isdigit() for line in lines for ch in line)


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(round(seconds * RATE))) / RATE
    return (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def padded(speech: np.ndarray, lead: float, tail: float) -> np.ndarray:
    return np.concatenate([np.zeros(int(lead * RATE), np.float32), speech, np.zeros(int(tail * RATE), np.float32)])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
@pytest.mark.parametrize("target", [1.0 / 1.2, 1.0 / 1.4, 0.6137])
def test_b_cuts_the_edge_silence_and_lasts_the_slot_exactly(target):
    audio = padded(tone(1.0), lead=0.3, tail=0.5)
    out = peer_fit(audio, RATE, target)
    assert len(out) == int(round(target * RATE))
    # The silence was cut before the speed-up: speech fills the slot, not the model's pauses.
    start, end = speech_span(out, RATE)
    assert start / RATE <= 0.02
    assert (len(out) - end) / RATE <= 0.03


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_b_leaves_speech_that_already_fits_alone():
    speech = tone(0.5)
    out = peer_fit(padded(speech, 0.2, 0.2), RATE, 0.5)
    np.testing.assert_array_equal(out, speech)


def test_b_needs_speech():
    with pytest.raises(ValueError):
        peer_fit(np.zeros(RATE, np.float32), RATE, 0.5)


def clips_for(texts, a_hyps, b_hyps, pace=1.2):
    out = []
    for i, text in enumerate(texts):
        out.append(Clip(i, "natural", 1.0, 2.0, 2.0, 0.5, 0.10, 0.20, text))
        out.append(Clip(i, "A", pace, 1.5, 1.5, 0.4, 0.01 * i, 0.02, a_hyps[i]))
        out.append(Clip(i, "B", pace, 1.5, 1.5, 0.01, 0.0, 0.0, b_hyps[i]))
    return out


TEXTS = ["¿Dónde estabas anoche?", "No te preocupes, yo me encargo.", "¡Qué sorpresa verte por aquí!"]


def test_identical_transcripts_give_no_errors_and_no_difference():
    summary = summarise(clips_for(TEXTS, TEXTS, TEXTS), TEXTS, [1.2])
    row = summary["1.2"]
    assert summary["natural"]["wer_pct"] == 0.0 and summary["natural"]["words"] == 14
    assert row["wer_a_pct"] == row["wer_b_pct"] == 0.0
    assert row["a_minus_b_errors"] == 0 and row["interval_95"] == [0.0, 0.0] and row["within_noise"]
    assert row["err_max_ms"] == 0.0
    assert row["lead_mean_ms"] == pytest.approx(10.0) and row["lead_max_ms"] == pytest.approx(20.0)
    assert row["seconds_mean"] == pytest.approx(0.4)
    # Natural speech 1.7 s (2 s less its edge silence); A's 1.5 s slot keeps 20-40 ms of it.
    speech = [1.5 - 0.01 * i - 0.02 for i in range(3)]
    assert row["a_speech_pace_mean"] == pytest.approx(np.mean([1.7 / s for s in speech]))
    assert "within noise" in report(summary, [1.2])


def test_accents_and_punctuation_are_not_errors_but_lost_words_are():
    a = ["donde estabas anoche", "no te preocupes yo me", "que sorpresa"]  # 1 + 3 words lost of 14
    b = ["Dónde estabas anoche", "No te preocupes, yo me encargo.", "Qué sorpresa verte por aquí"]
    row = summarise(clips_for(TEXTS, a, b), TEXTS, [1.2])["1.2"]
    assert row["wer_b_pct"] == 0.0
    assert row["wer_a_pct"] == pytest.approx(100.0 * 4 / 14)
    assert row["a_minus_b_errors"] == 4
    low, high = row["interval_95"]
    assert 0.0 <= low <= 4 <= high


def test_the_table_has_the_natural_row_and_one_row_per_pace():
    clips = clips_for(TEXTS, TEXTS, TEXTS, 1.2) + [c for c in clips_for(TEXTS, TEXTS, TEXTS, 1.4) if c.method != "natural"]
    text = report(summarise(clips, TEXTS, [1.2, 1.4]), [1.2, 1.4])
    rows = [line.split("|")[1].strip() for line in text.splitlines()[2:]]
    assert rows == ["natural", "1.2", "1.4"]
