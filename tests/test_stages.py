"""Stage pieces on real data: the separator on real weights, segmentation, the cache."""

import os

import numpy as np
import pytest

from bench.common import si_sdr
from pipelines.errors import BackendError
from dubber.runner import Workspace
from pipelines import asr, separate
from pipelines.remix import _duck_curve


def test_deepfilternet_cleans_speech_in_noise(tts):
    from pipelines.media import resample

    speech = tts.synthesize("The bundled separator should keep this voice and drop the hiss.")
    clean = resample(speech.samples, speech.sample_rate, 48_000)
    noise = np.random.default_rng(0).normal(0, 1, len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2))  # 0 dB SNR
    mixture = clean + noise
    out = separate.get_separator("deepfilternet").dialogue(mixture, lambda n=1: None)
    assert len(out) == len(mixture)
    assert si_sdr(out, clean) > si_sdr(mixture, clean) + 5


def test_unknown_separator_names_the_known():
    with pytest.raises(BackendError, match="deepfilternet"):
        separate.get_separator("magic")


def words(*items):
    return [{"word": w, "start": a, "end": b} for w, a, b in items]


def test_units_split_at_sentence_ends_and_long_pauses():
    stream = words((" Hello", 0.0, 0.4), (" there.", 0.4, 1.2), (" How", 1.2, 1.5), (" are", 1.5, 1.7),
                   (" you", 1.7, 2.0), (" today", 3.5, 4.0))
    units = asr.split_words(stream)
    assert [[w["word"].strip() for w in u] for u in units] == [["Hello", "there."], ["How", "are", "you"], ["today"]]


def test_snap_moves_edges_to_the_voice():
    regions = [(0.9, 3.4), (4.3, 8.2)]
    assert asr.snap(0.5, 3.2, regions) == (0.9, 3.4)
    # a region begun long before does not drag the start back
    assert asr.snap(3.0, 8.0, regions) == (4.3, 8.2)
    assert asr.snap(10.0, 11.0, regions) == (10.0, 11.0)
    # the separated dialogue's VAD hears a first syllable the music masked in the programme
    programme, dialogue = [(23.55, 24.7)], [(23.49, 24.68)]
    assert asr.snap(23.05, 24.6, sorted(programme + dialogue)) == (23.49, 24.7)


def test_duck_curve_ramps():
    gain = _duck_curve([(100, 200)], 400, 0.5, attack=20, release=50)
    assert gain[0] == 1.0 and gain[150] == 0.5 and gain[399] == 1.0
    assert 0.5 < gain[90] < 1.0 and 0.5 < gain[220] < 1.0
    assert np.all(np.abs(np.diff(gain)) <= 0.5 / 20 + 1e-6)


def test_workspace_caches_and_never_keeps_a_failed_stage(tmp_path):
    ws = Workspace(tmp_path)
    calls = []

    def work(folder):
        calls.append(folder)
        (folder / "x.txt").write_text("done")
        return {"file": "x.txt"}

    first, result = ws.run("stage", "1", {"a": 1}, work)
    again, _ = ws.run("stage", "1", {"a": 1}, work)
    assert first == again and len(calls) == 1 and (first / "x.txt").read_text() == "done"
    ws.run("stage", "1", {"a": 2}, work)
    assert len(calls) == 2

    def broken(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ws.run("stage", "1", {"a": 3}, broken)
    leftovers = [p for p in (tmp_path / "stage").iterdir() if p.name not in (first.name, ws.run("stage", "1", {"a": 2}, work)[0].name)]
    assert leftovers == []


def test_whisper_answers_in_spanish_then_the_words_are_translated(tmp_path, monkeypatch):
    """Orchestration: when Whisper's translate task keeps answering in the source language,
    the line goes to an offline text translator (the pair's chain, or apertium es->en) instead."""
    import shutil

    from pipelines.media import write_wav
    from pipelines import translate, translators

    if not translators.BACKENDS["apertium"].covers("es", "en") or shutil.which("apertium") is None:
        pytest.skip("apertium-eng-spa is not installed")

    class Parrot:
        def translate(self, clip, language, temperature=0.0):
            return "Las comadrejas se han comido nuestro sistema telefónico."

    monkeypatch.setattr(translate, "get_asr", lambda *a: Parrot())
    wav = write_wav(tmp_path / "a.wav", np.zeros(48_000 * 3, np.float32), 48_000)
    segments = [{"start": 0.5, "end": 2.5, "text": "Las comadrejas se han comido nuestro sistema telefónico."}]
    out = translate.translate(wav, segments, "es", "en", "whisper", "faster-whisper", "base", "cpu",
                              lambda d, n: (lambda k=1: None))
    line = out["segments"][0]
    assert line["translated_by"] in ("apertium", translators.AUTO_CHAINS[("es", "en")]) and "system" in line["text"].lower()


def test_garbled_translations_are_recognised():
    from pipelines.translate import garbled

    # What Whisper base once answered for a sample line, other loops, and English in another script.
    assert garbled("The" + "较" * 40)
    assert garbled("T-H-E-Ch-E" + "-Ch-E" * 30)
    assert garbled("Thank you. " * 12)
    assert garbled("Что-то ужасно не так.")
    for fine in ("The weasels have eaten our telephone system.", "Thank you very much for your patience.",
                 "I'm sorry, but I can't find the person you're looking for.", "Señor Dashwood, café, naïve.",
                 "Okay.", "No, no, no."):
        assert not garbled(fine), fine


def test_a_translation_stuck_in_a_loop_goes_to_the_text_translator(tmp_path, monkeypatch):
    """Orchestration: every Whisper attempt loops, so the line's words go to a text translator; with
    no text translator the line is left empty (skipped), never read out as the loop."""
    import shutil

    from pipelines.media import write_wav
    from pipelines import translate, translators

    calls = []

    class Loop:
        def translate(self, clip, language, temperature=0.0):
            calls.append(len(clip))
            return "The" + "较" * 40

    monkeypatch.setattr(translate, "get_asr", lambda *a: Loop())
    wav = write_wav(tmp_path / "a.wav", np.zeros(48_000 * 10, np.float32), 48_000)
    segments = [{"start": 4.0, "end": 6.0, "text": "Algo está terriblemente mal."}]
    run = lambda: translate.translate(wav, segments, "es", "en", "whisper", "faster-whisper", "base", "cpu",
                                      lambda d, n: (lambda k=1: None))
    if translators.BACKENDS["apertium"].covers("es", "en") and shutil.which("apertium"):
        line = run()["segments"][0]
        assert line["translated_by"] in ("apertium", translators.AUTO_CHAINS[("es", "en")])
        assert "terribl" in line["text"].lower() or "wrong" in line["text"].lower()
        assert calls[:3] == sorted(set(calls[:3])) and len(calls) == 3  # each attempt hears more of the context
    monkeypatch.setattr(translate, "_text_fallback", lambda *a: None)
    assert run()["segments"][0]["text"] == ""


def test_voiced_share():
    regions = [(1.0, 2.0), (3.0, 4.0)]
    assert asr.voiced_share(1.0, 2.0, regions) == 1.0
    assert asr.voiced_share(1.5, 3.5, regions) == pytest.approx(0.5)
    assert asr.voiced_share(5.0, 6.0, regions) == 0.0


LIBRIVOX_WAV = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"


@pytest.mark.skipif(not os.path.isfile(LIBRIVOX_WAV), reason="pocketsphinx-testdata is not installed")
def test_whisper_ahead_hears_what_the_stage_would(tmp_path):
    """asr.Ahead runs the same transcription in a thread: the stage's result is the same."""
    import shutil

    wav = tmp_path / "speech.wav"
    shutil.copy(LIBRIVOX_WAV, wav)
    quiet = lambda d, n: (lambda k=1: None)
    direct = asr.transcribe(wav, "faster-whisper", "base", "en", "cpu", quiet)
    ahead = asr.Ahead(wav, "faster-whisper", "base", "en", "cpu")
    assert ahead.take(wav, "faster-whisper", "base", "es", "cpu") is None  # heard otherwise: not taken
    assert asr.transcribe(wav, "faster-whisper", "base", "en", "cpu", quiet, ahead=ahead) == direct
    assert direct["segments"] and "dashwood" in " ".join(s["text"] for s in direct["segments"]).lower()
    missing = asr.Ahead(tmp_path / "gone.wav", "faster-whisper", "base", "en", "cpu")
    with pytest.raises(Exception) as error:
        missing.take(tmp_path / "gone.wav", "faster-whisper", "base", "en", "cpu")
    with pytest.raises(type(error.value)):  # the error the stage itself would have raised
        asr.transcribe(tmp_path / "gone.wav", "faster-whisper", "base", "en", "cpu", quiet)
