"""Emotion and voice controls: parsing, the pitch tracker, and their measured effect on
the Kokoro backend's real output."""

import numpy as np
import pytest

from tts_core import TTS, UnsupportedRequestError
from tts_core.prosody import EMOTIONS, Prosody, ProsodyStats, emotion_from_text, parse_emotion, pitch_track

from .conftest import sine


@pytest.fixture(scope="module")
def kokoro():
    return TTS.from_pretrained("kokoro", lang="en")


def semitones(a: float, b: float) -> float:
    return 12 * np.log2(a / b)


def test_pitch_track_finds_a_tone():
    f0 = pitch_track(sine(1.0, 16_000, 180.0), 16_000)
    assert abs(np.median(f0[f0 > 0]) - 180) < 3


def test_emotion_specs():
    assert parse_emotion(None, "x").is_neutral
    angry = parse_emotion([0, 1, 0, 0, 0, 0, 0, 0], "x")
    assert angry.pitch_range > 1 and angry.energy_db > 0
    sad = parse_emotion("very sad", "x")
    assert sad.pitch_shift < parse_emotion("a bit sad", "x").pitch_shift < 0
    assert emotion_from_text("I miss you, I'm so sorry.")[EMOTIONS.index("sad")] > 0
    assert not emotion_from_text("The train leaves at noon.").any()
    with pytest.raises(UnsupportedRequestError):
        parse_emotion([1, 0], "x")
    with pytest.raises(UnsupportedRequestError):
        parse_emotion("purple", "x")


def test_prosody_moves_the_measured_pitch(kokoro):
    text = "We should leave before the storm reaches the harbour tonight."
    base = ProsodyStats.of(kokoro.synthesize(text, duration=3.5).samples, 24_000)
    up = ProsodyStats.of(kokoro.backend.render(*_plan(kokoro, text, 3.5), prosody=Prosody(pitch_shift=4)), 24_000)
    assert 2.5 < semitones(up.median_hz, base.median_hz) < 5.5
    happy = kokoro.synthesize(text, duration=3.5, emotion="happy")
    sad = kokoro.synthesize(text, duration=3.5, emotion="sad")
    assert len(happy.samples) == len(sad.samples) == round(3.5 * 24_000)
    h, s = ProsodyStats.of(happy.samples, 24_000), ProsodyStats.of(sad.samples, 24_000)
    assert semitones(h.median_hz, s.median_hz) > 2
    assert h.spread > s.spread and h.level_db > s.level_db


def _plan(tts, text, seconds):
    from tts_core.planner import plan_durations

    analysis = tts.backend.analyse(text)
    target = round(seconds * tts.sample_rate / tts.backend.hop_length)
    return analysis, plan_durations(analysis.natural, analysis.kinds, target).frames


def test_voice_reference_picks_the_closer_voice(kokoro, tmp_path):
    """A reference spoken by one bundled voice (other words) must be matched by a voice at
    least as close as the default one, scored by the real speaker encoder."""
    reference = TTS.from_pretrained("kokoro", voice="jm_kumo", lang="en")
    ref_path = reference.synthesize("Nobody told me the meeting had moved to Thursday afternoon.").save(
        tmp_path / "ref.wav")
    speech = kokoro.synthesize("A different sentence entirely.", duration=2.0, speaker_wav=ref_path)
    match = kokoro.backend._matches[str(ref_path)]
    assert "jm_kumo" in match.weights
    assert speech.voice_similarity == match.similarity >= match.default_similarity
    assert len(speech.samples) == 48_000
    # The natural length the fit planner sees is the matched voice's own free length.
    text = "Please wait while I try to connect your call."
    free = kokoro.synthesize(text, speaker_wav=ref_path)
    assert kokoro.natural_duration(text, speaker_wav=ref_path) == pytest.approx(free.duration, abs=1 / 24_000)
    assert abs(kokoro.natural_duration(text) - free.duration) > 0.05  # the default voice's pace differs


def test_piper_refuses_what_it_cannot_do(tts, tmp_path):
    with pytest.raises(UnsupportedRequestError, match="kokoro"):
        tts.synthesize("Hi.", emotion="happy")


def test_voice_embeddings_are_derived_once_and_matches_use_them(tmp_path, monkeypatch):
    """Each voice speaking the probe sentence is heard once per machine: warming derives them
    all, a second warm derives none, and a match then gives the same answer as without them."""
    from tts_core import voice

    import soundfile as sf

    kokoro = TTS.from_pretrained("kokoro", lang="es")
    reference = tmp_path / "speaker.wav"
    sample = TTS.from_pretrained("kokoro", voice="jm_kumo", lang="es").synthesize("Buenas tardes a todos.")
    sf.write(reference, sample.samples, sample.sample_rate)
    monkeypatch.setenv("DUB_CACHE_DIR", str(tmp_path / "cold"))
    cold = voice.match_voice(kokoro.backend, reference, "jf_alpha")
    monkeypatch.setenv("DUB_CACHE_DIR", str(tmp_path / "warm"))
    assert voice.warm_probes(kokoro.backend, most=2) == len(kokoro.backend.voices)  # too many to blend all
    assert voice.warm_probes(kokoro.backend, most=2) == 0
    warm = voice.match_voice(kokoro.backend, reference, "jf_alpha")
    assert warm.weights == cold.weights and warm.similarity == pytest.approx(cold.similarity, abs=1e-6)
    assert [c[0] for c in warm.candidates] == [c[0] for c in cold.candidates]
