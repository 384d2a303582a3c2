"""Separators on the real code path: demucs with a tiny random model, DeepFilterNet on real recordings."""


import numpy as np
import pytest

from bench import recordings
from bench.common import si_sdr
from pipelines.errors import BackendError, ModelError, ModelMissingError
from pipelines import separate

SPEECH = recordings.asterisk_prompts("en")  # Debian asterisk-core-sounds-en-wav (8 kHz prompts)
MUSIC = recordings.MUSIC  # Debian asterisk-moh-opsound-wav (8 kHz music)


def tiny_demucs():
    torch = pytest.importorskip("torch")
    htdemucs = pytest.importorskip("demucs.htdemucs")
    torch.manual_seed(0)
    # No transformer: at depth 2 it would attend over ~11k time steps (about 30 s a segment here).
    model = htdemucs.HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=8, depth=2, t_layers=0,
                              samplerate=44100, segment=4)
    model.samplerate = 44100
    return model.eval()


def programme(seconds=12.0, rate=48_000):
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(1)
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    return (tone + 0.05 * rng.normal(size=len(t))).astype(np.float32)


def test_demucs_chunks_and_keeps_length():
    model = tiny_demucs()
    mix = programme()
    calls = []
    sep = separate.Demucs.from_model(model, chunk_seconds=5, crossfade_seconds=0.5)
    dialogue = sep.dialogue(mix, calls.append)
    assert dialogue.shape == mix.shape and dialogue.dtype == np.float32
    assert np.isfinite(dialogue).all()
    assert len(calls) > 1 and sum(calls) == 100
    background = sep.background(mix, dialogue)
    assert background.shape == mix.shape and np.isfinite(background).all()
    # the background is the other stems, not mix - dialogue
    assert not np.allclose(background, mix - dialogue)

    stereo = np.stack([mix, 0.5 * mix], axis=1)
    dialogue2 = sep.dialogue(stereo, lambda n: None)
    assert dialogue2.shape == mix.shape
    assert sep.background(stereo, dialogue2).shape == stereo.shape

    again = separate.Demucs.from_model(model, chunk_seconds=5, crossfade_seconds=0.5).dialogue(mix, lambda n: None)
    np.testing.assert_array_equal(dialogue, again)


def test_demucs_loads_a_saved_model_file(tmp_path):
    model = tiny_demucs()
    states = pytest.importorskip("demucs.states")
    path = tmp_path / "tiny.th"
    import torch

    args, kwargs = model._init_args_kwargs  # what demucs.states.serialize_model saves, minus training args
    torch.save({"klass": type(model), "args": args, "kwargs": kwargs, "state": states.get_state(model, None, False)},
               path)
    sep = separate.get_separator(f"demucs:{path}")
    assert isinstance(sep, separate.Demucs) and sep.model.sources[-1] == "vocals"


def test_demucs_missing_weights_say_what_to_do(tmp_path, monkeypatch):
    pretrained = pytest.importorskip("demucs.pretrained")
    with pytest.raises(ModelError, match="does not exist"):
        separate.get_separator(f"demucs:{tmp_path / 'missing.th'}")

    def offline(name, repo=None):
        import urllib.error

        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(pretrained, "get_model", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelMissingError, match=r"htdemucs \(84.0 MB\) is not installed.*dub models pull htdemucs"):
        separate.get_separator("demucs")  # the default, htdemucs: in the catalogue of `dub models`
    with pytest.raises(ModelError, match="download when online.*offline use deepfilternet"):
        separate.get_separator("demucs:mdx_extra")


def test_unknown_separator_names_the_known():
    with pytest.raises(BackendError) as info:
        separate.get_separator("nope")
    for known in ("deepfilternet", "demucs", "none"):
        assert known in str(info.value)


def _load(path, rate=48_000):
    from pipelines.media import read_wav, resample

    audio, sr = read_wav(path)
    mono = audio if audio.ndim == 1 else audio.mean(axis=1)
    return resample(mono.astype(np.float32), sr, rate)


def test_deepfilternet_separates_real_speech_from_real_music():
    prompts = sorted(SPEECH.glob("*.wav"))[:12] if SPEECH.is_dir() else []
    tracks = sorted(MUSIC.glob("*.wav")) if MUSIC.is_dir() else []
    if not prompts or not tracks:
        pytest.skip("needs Debian asterisk-core-sounds-en-wav and asterisk-moh-opsound-wav")
    gap = np.zeros(24_000, np.float32)
    speech = np.concatenate([x for p in prompts for x in (_load(p), gap)])[: 10 * 48_000]
    music = _load(tracks[0])[30 * 48_000 :][: len(speech)]
    speech = speech[: len(music)]
    music *= np.sqrt(np.mean(speech**2) / np.mean(music**2) / 10 ** (5 / 10))  # 5 dB speech-to-music
    mixture = speech + music
    out = separate.get_separator("deepfilternet").dialogue(mixture, lambda n=1: None)
    assert len(out) == len(mixture)
    assert si_sdr(out, speech) >= si_sdr(mixture, speech) + 3
