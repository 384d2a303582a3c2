"""The TTS core on the bundled Piper voice (real weights, no stand-ins)."""

import wave

import numpy as np
import onnxruntime as ort
import pytest

from tts_core import TTS, EmptyTextError, UnknownBackendError, UnsupportedRequestError
from tts_core.backends.piper import bundled_voice
from tts_core.silence import edge_silence


def test_exact_length_for_many_random_targets(tts):
    rng = np.random.default_rng(7)
    texts = ["Welcome back.", "I'm sorry, but I could not find the person you are looking for.",
             "Thank you very much for your patience!", "Yes."]
    for _ in range(24):
        text = texts[rng.integers(len(texts))]
        natural = tts.natural_duration(text)
        duration = float(np.round(natural * rng.uniform(0.5, 2.0), 3))
        speech = tts.synthesize(text, duration=duration)
        assert len(speech.samples) == round(duration * speech.sample_rate)
        assert abs(speech.duration - duration) <= 1 / speech.sample_rate
        assert np.abs(speech.samples).max() > 0.05  # it spoke


def test_target_tokens_and_scale(tts):
    hop = tts.backend.hop_length
    speech = tts.synthesize("The quick brown fox.", target_tokens=207)
    assert speech.tokens == 207 and len(speech.samples) == 207 * hop
    natural = tts.synthesize("The quick brown fox.")
    slow = tts.synthesize("The quick brown fox.", duration_scale=1.5)
    assert slow.tokens == round(natural.natural_tokens * 1.5)
    assert slow.rate == pytest.approx(1.5, abs=0.01)
    assert natural.rate == pytest.approx(1.0, abs=0.05)


def test_seed_makes_it_deterministic(tts):
    a = tts.synthesize("Same words, same sound.", duration=2.0, seed=3)
    b = tts.synthesize("Same words, same sound.", duration=2.0, seed=3)
    c = tts.synthesize("Same words, same sound.", duration=2.0, seed=4)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_split_graph_matches_the_original_voice(tts):
    """With the random draws switched off, duration model + planner at the natural length
    + decoder must give the same audio as the untouched Piper export."""
    backend = tts.backend
    backend_noise, backend_w = backend.noise_scale, backend.noise_w
    backend.noise_scale = backend.noise_w = 0.0
    try:
        analysis = backend.analyse("Hello there, my friend.")
        frames = np.ceil(analysis.natural)
        ours = backend.render(analysis, frames)
    finally:
        backend.noise_scale, backend.noise_w = backend_noise, backend_w
    ids = np.array([[backend.id_map[t][0] for t in ["^", "_", *sum(([s, "_"] for s in backend._symbols("Hello there, my friend.")), []), "$"]]])
    original = ort.InferenceSession(str(bundled_voice()))
    theirs = original.run(None, {"input": ids, "input_lengths": np.array([ids.shape[1]]),
                                 "scales": np.array([0.0, 1.0, 0.0], np.float32)})[0].reshape(-1)
    assert len(ours) == len(theirs) == int(frames.sum()) * backend.hop_length
    assert np.allclose(ours, theirs, atol=1e-4)


def test_save_writes_16bit_pcm(tts, tmp_path):
    speech = tts.synthesize("Saved to disk.", duration=1.25)
    path = speech.save(tmp_path / "line.wav")
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        assert w.getnframes() == len(speech.samples)


def test_batch(tts):
    out = tts.batch_synthesize(["One.", "Two words."], durations=[0.8, 1.1])
    assert [round(s.duration, 4) for s in out] == [0.8, 1.1]


def test_clear_errors(tts):
    with pytest.raises(EmptyTextError):
        tts.synthesize("   ")
    with pytest.raises(EmptyTextError):
        tts.synthesize("?!...")
    with pytest.raises(UnsupportedRequestError):
        tts.synthesize("Hi.", duration=1.0, target_tokens=10)
    with pytest.raises(UnsupportedRequestError):
        tts.synthesize("Hi.", duration=-1)
    with pytest.raises(UnsupportedRequestError):
        tts.synthesize("Hi.", speaker_wav="ref.wav")
    with pytest.raises(UnknownBackendError):
        TTS.from_pretrained("no-such-voice")
    with pytest.raises(UnknownBackendError):
        TTS.from_pretrained("/no/such/voice.onnx")


def test_long_text_and_one_word(tts):
    long_text = " ".join(["This sentence keeps going on and on."] * 12)
    speech = tts.synthesize(long_text, duration_scale=1.0)
    assert speech.duration > 15
    word = tts.synthesize("Go", duration=0.6)
    assert len(word.samples) == round(0.6 * word.sample_rate)


def test_natural_target_reproduces_natural_speech(tts):
    text = "Exactly as the voice would say it."
    natural = tts.synthesize(text)
    same = tts.synthesize(text, target_tokens=natural.tokens)
    assert np.array_equal(natural.samples, same.samples)


def test_fractional_frames_reach_the_decoder(tts):
    """Piper's decoder reads the alignment path: a token may last 1.6 frames, and the
    audio is exactly the plan's (whole) total long; whole counts are the export's own path."""
    backend = tts.backend
    assert backend.fractional_frames
    analysis = backend.analyse("Fractions of a frame.")
    whole = backend.whole_frames(analysis.natural).astype(np.float64)
    squeezed = whole * 0.7
    squeezed *= np.floor(squeezed.sum()) / squeezed.sum()  # a whole total, fractional tokens
    assert not np.allclose(squeezed, np.round(squeezed))
    audio = backend.render(analysis, squeezed)
    assert len(audio) == int(round(squeezed.sum())) * backend.hop_length
    assert np.sqrt(np.mean(audio ** 2)) > 0.01
    rounded = backend.render(analysis, np.diff(np.round(np.concatenate([[0.0], np.cumsum(squeezed)]))))
    assert len(rounded) == len(audio) and not np.allclose(rounded, audio)
    fast = tts.synthesize("Fractions of a frame.", target_tokens=int(whole.sum() * 0.7))
    assert len(fast.samples) == int(whole.sum() * 0.7) * backend.hop_length


SLOT_LINES = ["Do you have an incoming call?", "Please wait while I try to connect your call.",
              "At this moment nobody is free to answer your call.", "Thank you.",
              "Something is terribly wrong.", "The weasels have eaten our phone system."]


def test_speech_fills_its_slot(tts):
    """No silence padded inside a line: the voice's start and end tokens and the fade of its
    last phoneme get no time, so the words start at the slot's start and end at its end,
    at the natural length and squeezed or stretched alike."""
    tails = []
    for text in SLOT_LINES:
        natural = tts.natural_duration(text)
        free = tts.synthesize(text)
        assert abs(free.duration - natural) <= tts.backend.hop_length / tts.sample_rate
        for scale in (0.75, 1.0, 1.3):
            speech = tts.synthesize(text, duration=round(natural * scale, 3))
            lead, tail = edge_silence(speech.samples, speech.sample_rate)
            assert lead <= 0.030, (text, scale, lead)
            assert tail <= 0.120, (text, scale, tail)  # a final stop's closure may stay silent
            tails.append(tail)
    assert np.median(tails) <= 0.030


def test_a_slot_far_too_long_gets_silence_after_not_drawl(tts):
    text = "Thank you."
    natural = tts.natural_duration(text)
    speech = tts.synthesize(text, duration=natural * 3)
    assert not speech.within_bounds and len(speech.samples) == round(natural * 3 * speech.sample_rate)
    lead, tail = edge_silence(speech.samples, speech.sample_rate)
    assert lead <= 0.030 and tail >= natural * 0.9  # spoken at twice its length at most, then quiet
