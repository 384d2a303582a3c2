"""The BigVGAN vocoder: a tiny random generator saved the way the release is (config.json +
``{'generator': state_dict}`` with weight norm) and read back by the real loader."""

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tts_core.backends.indextts2.bigvgan import (  # noqa: E402
    HUB_REPO,
    AntiAliasedSnake,
    BigVGAN,
    BigVGANConfig,
    kaiser_sinc_filter,
    load_bigvgan,
    vocode,
)
from tts_core.errors import ModelFileError  # noqa: E402

# The generator's part of the release's config.json, with a few of its training-only keys.
RELEASE_JSON = {
    "resblock": "1",
    "batch_size": 32,
    "upsample_rates": [4, 4, 2, 2, 2, 2],
    "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
    "upsample_initial_channel": 1536,
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
    "activation": "snakebeta",
    "snake_logscale": True,
    "use_cqtd_instead_of_mrd": True,
    "num_mels": 80,
    "n_fft": 1024,
    "hop_size": 256,
    "win_size": 1024,
    "sampling_rate": 22050,
    "fmax": None,
}

TINY_JSON = dict(
    RELEASE_JSON,
    num_mels=8,
    upsample_rates=[4, 2],
    upsample_kernel_sizes=[8, 4],
    upsample_initial_channel=32,
    resblock_kernel_sizes=[3, 5],
    resblock_dilation_sizes=[[1, 3], [1, 3]],
    hop_size=8,
)


def tiny_release(folder, overrides=None, seed=0, mutate=None):
    """A random tiny generator written as the release is; returns (folder, unfolded model)."""
    h = dict(TINY_JSON, **(overrides or {}))
    torch.manual_seed(seed)
    model = BigVGAN(BigVGANConfig.from_dict(h))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("alpha", "beta")):  # zero at init: make the activations matter
                p.normal_(0.0, 0.5)
    state = model.state_dict()
    if mutate:
        state = mutate(state)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(h))
    torch.save({"generator": state}, folder / "bigvgan_generator.pt")
    return folder, model.eval()


def tiny_mel(batch=2, frames=11, seed=1):
    return torch.randn(batch, 8, frames, generator=torch.Generator().manual_seed(seed)) * 2 - 4


def test_config_reads_the_release_json_and_v1_defaults():
    config = BigVGANConfig.from_dict(RELEASE_JSON)
    assert config == BigVGANConfig()
    assert config.hop_length == 256 and config.sampling_rate == 22050
    older = {k: v for k, v in RELEASE_JSON.items() if not k.startswith("use_")}
    config = BigVGANConfig.from_dict(older)
    assert config.use_tanh_at_final and config.use_bias_at_final


@pytest.mark.parametrize("change", [{"activation": "relu"}, {"resblock": "3"}, {"hop_size": 300}, {"num_mels": None}])
def test_a_bad_config_is_a_model_file_error(tmp_path, change):
    (tmp_path / "config.json").write_text(json.dumps(dict(RELEASE_JSON, **change)))
    with pytest.raises(ModelFileError, match="config.json"):
        load_bigvgan(tmp_path)


def test_missing_files_say_where_to_get_them(tmp_path):
    with pytest.raises(ModelFileError, match="config.json") as err:
        load_bigvgan(tmp_path)
    assert HUB_REPO in str(err.value)
    (tmp_path / "config.json").write_text(json.dumps(TINY_JSON))
    with pytest.raises(ModelFileError, match="bigvgan_generator.pt") as err:
        load_bigvgan(tmp_path)
    assert HUB_REPO in str(err.value)
    (tmp_path / "bigvgan_generator.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_bigvgan(tmp_path)


def kaiser_beta(attenuation_db):
    """Kaiser's empirical window parameter for a stop-band attenuation."""
    if attenuation_db > 50:
        return 0.1102 * (attenuation_db - 8.7)
    if attenuation_db >= 21:
        return 0.5842 * (attenuation_db - 21) ** 0.4 + 0.07886 * (attenuation_db - 21)
    return 0.0


def numpy_lowpass(taps=12, cutoff=0.25, half_width=0.3):
    half = taps // 2
    # Transition width 4 * half_width; Kaiser's attenuation estimate for this length.
    beta = kaiser_beta(2.285 * (half - 1) * np.pi * 4 * half_width + 7.95)
    t = np.arange(taps) - (taps - 1) / 2  # even length: taps at half-sample offsets
    h = 2 * cutoff * np.kaiser(taps, beta) * np.sinc(2 * cutoff * t)
    return h / h.sum()


@pytest.mark.parametrize("taps", [12, 11])
def test_kaiser_sinc_filter_matches_the_textbook_design(taps):
    ours = kaiser_sinc_filter(0.25, 0.3, taps).double().numpy().reshape(-1)
    np.testing.assert_allclose(ours, numpy_lowpass(taps), atol=1e-6)
    np.testing.assert_allclose(ours, ours[::-1], atol=1e-7)  # linear phase
    assert ours.sum() == pytest.approx(1.0, abs=1e-6)


def test_anti_aliased_snake_matches_direct_resampling():
    """Zero-stuff, filter, Snake-Beta, filter, decimate: written out per channel in numpy."""
    config = BigVGANConfig(snake_logscale=True, activation="snakebeta")
    act = AntiAliasedSnake(3, config)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        act.act.alpha.copy_(torch.randn(3, generator=g) * 0.5)
        act.act.beta.copy_(torch.randn(3, generator=g) * 0.5)
    x = torch.randn(1, 3, 20, generator=g)
    ours = act(x).detach().numpy()[0]

    h = numpy_lowpass()
    alpha, beta = np.exp(act.act.alpha.detach().double().numpy()), np.exp(act.act.beta.detach().double().numpy())
    for c, signal in enumerate(x.double().numpy()[0]):
        padded = np.pad(signal, 5, mode="edge")
        stuffed = np.zeros(2 * len(padded) - 1)
        stuffed[::2] = padded
        up = np.convolve(stuffed, 2 * h)[15:-15]  # twice the rate, same span as the input
        assert len(up) == 2 * len(signal)
        up = up + np.sin(alpha[c] * up) ** 2 / (beta[c] + 1e-9)
        down = np.correlate(np.pad(up, (5, 6), mode="edge"), h, mode="valid")[::2]
        np.testing.assert_allclose(ours[c], down, atol=2e-5)


def test_tiny_release_round_trip(tmp_path):
    folder, reference = tiny_release(tmp_path / "bigvgan")
    model = load_bigvgan(folder)
    names = list(model.state_dict())
    assert not any(n.endswith(("weight_g", "weight_v")) for n in names)
    assert "conv_pre.weight" in names and "conv_post.bias" not in names

    mel = tiny_mel()
    wave = vocode(model, mel)
    assert wave.shape == (2, 11 * 8) and wave.dtype == torch.float32
    assert wave.abs().max() <= 1.0 and wave.std() > 1e-4
    assert torch.equal(wave, vocode(model, mel))  # deterministic
    with torch.no_grad():  # folding must not change what the stored weights compute
        torch.testing.assert_close(wave, reference(mel).squeeze(1), atol=1e-6, rtol=1e-5)
    # Each batch item is vocoded on its own.
    torch.testing.assert_close(vocode(model, mel[1:]), wave[1:], atol=1e-6, rtol=1e-5)


def test_folded_weight_is_magnitude_times_unit_direction(tmp_path):
    folder, _ = tiny_release(tmp_path / "bigvgan")
    stored = torch.load(folder / "bigvgan_generator.pt")["generator"]
    model = load_bigvgan(folder)
    for name in ("conv_pre", "ups.0.0", "resblocks.3.convs1.1"):
        v = stored[f"{name}.weight_v"].double().numpy()
        g = stored[f"{name}.weight_g"].double().numpy()
        expected = g * v / np.sqrt((v**2).sum(axis=(1, 2), keepdims=True))
        folded = model.get_submodule(name).weight.detach().double().numpy()
        np.testing.assert_allclose(folded, expected, rtol=1e-5, atol=1e-7)


def _drop(state):
    return {k: v for k, v in state.items() if k != "resblocks.1.convs2.0.bias"}


def _rename(state):
    return {k.replace("activation_post.act.beta", "activation_post.act.gamma"): v for k, v in state.items()}


@pytest.mark.parametrize("mutate", [_drop, _rename])
def test_loading_is_strict(tmp_path, mutate):
    folder, _ = tiny_release(tmp_path / "bigvgan", mutate=mutate)
    with pytest.raises(ModelFileError, match="does not match"):
        load_bigvgan(folder)


def test_weights_of_another_size_are_refused(tmp_path):
    folder, _ = tiny_release(tmp_path / "bigvgan")
    (folder / "config.json").write_text(json.dumps(dict(TINY_JSON, upsample_initial_channel=16)))
    with pytest.raises(ModelFileError, match="size mismatch"):
        load_bigvgan(folder)


def _parametrized(state):
    """torch's newer weight norm stores the same pair under other names."""
    g, v = ".parametrizations.weight.original0", ".parametrizations.weight.original1"
    return {k.replace(".weight_g", g).replace(".weight_v", v): t for k, t in state.items()}


def test_other_weight_norm_layouts_give_the_same_model(tmp_path):
    _, reference = tiny_release(tmp_path / "a")
    expected = vocode(load_bigvgan(tmp_path / "a"), tiny_mel())

    folder, _ = tiny_release(tmp_path / "b", mutate=_parametrized)
    assert any("parametrizations" in k for k in torch.load(folder / "bigvgan_generator.pt")["generator"])
    assert torch.equal(vocode(load_bigvgan(folder), tiny_mel()), expected)

    reference.fold_weight_norm()  # a checkpoint saved after weight norm was removed
    torch.save({"generator": reference.state_dict()}, tmp_path / "a" / "bigvgan_generator.pt")
    assert torch.equal(vocode(load_bigvgan(tmp_path / "a"), tiny_mel()), expected)


def test_output_is_clamped_or_squashed(tmp_path):
    """The same weights with either ending (this tiny model's raw output spans about -1.2 to 0)."""
    clamped = vocode(load_bigvgan(tiny_release(tmp_path / "clamp")[0]), tiny_mel())
    squashed = vocode(load_bigvgan(tiny_release(tmp_path / "tanh", {"use_tanh_at_final": True})[0]), tiny_mel())
    raw = torch.atanh(squashed.double())
    assert (raw.abs() > 1).any() and (raw.abs() < 1).any()
    torch.testing.assert_close(clamped.double(), raw.clamp(-1, 1), atol=1e-5, rtol=0)
    assert clamped.min() == -1.0


@pytest.mark.parametrize("overrides", [{"resblock": "2"}, {"activation": "snake", "snake_logscale": False}])
def test_other_block_and_activation_variants(tmp_path, overrides):
    folder, reference = tiny_release(tmp_path / "bigvgan", overrides=overrides)
    model = load_bigvgan(folder)
    if overrides.get("resblock") == "2":
        assert "resblocks.0.convs.1.weight" in model.state_dict()
    else:
        assert "activation_post.act.beta" not in model.state_dict()
    wave = vocode(model, tiny_mel())
    assert wave.shape == (2, 88) and torch.isfinite(wave).all()
    with torch.no_grad():
        torch.testing.assert_close(wave, reference(tiny_mel()).squeeze(1), atol=1e-6, rtol=1e-5)


def test_vocode_wants_batch_mels_frames():
    model = BigVGAN(BigVGANConfig.from_dict(TINY_JSON))
    with pytest.raises(ValueError, match="expected a mel"):
        vocode(model, torch.zeros(8, 5))
    with pytest.raises(ValueError, match="expected a mel"):
        vocode(model, torch.zeros(1, 80, 5))


def test_full_size_names_and_shapes_are_the_releases():
    with torch.device("meta"):
        state = BigVGAN(BigVGANConfig()).state_dict()
    assert len(state) == 783
    assert sum(t.numel() for t in state.values()) == 112_233_865
    patterns = {re.sub(r"\d+", "N", name) for name in state}
    assert patterns == {
        "conv_pre.bias", "conv_pre.weight_g", "conv_pre.weight_v",
        "ups.N.N.bias", "ups.N.N.weight_g", "ups.N.N.weight_v",
        "resblocks.N.convsN.N.bias", "resblocks.N.convsN.N.weight_g", "resblocks.N.convsN.N.weight_v",
        "resblocks.N.activations.N.act.alpha", "resblocks.N.activations.N.act.beta",
        "resblocks.N.activations.N.upsample.filter", "resblocks.N.activations.N.downsample.lowpass.filter",
        "activation_post.act.alpha", "activation_post.act.beta",
        "activation_post.upsample.filter", "activation_post.downsample.lowpass.filter",
        "conv_post.weight_g", "conv_post.weight_v",
    }  # fmt: skip
    shapes = {
        "conv_pre.weight_v": (1536, 80, 7),
        "conv_pre.weight_g": (1536, 1, 1),
        "ups.0.0.weight_v": (1536, 768, 8),
        "ups.0.0.weight_g": (1536, 1, 1),
        "ups.2.0.weight_v": (384, 192, 4),
        "ups.5.0.weight_g": (48, 1, 1),
        "resblocks.0.convs1.0.weight_v": (768, 768, 3),
        "resblocks.8.convs1.1.weight_v": (192, 192, 11),
        "resblocks.17.convs2.2.weight_v": (24, 24, 11),
        "resblocks.5.activations.5.act.alpha": (384,),
        "activation_post.downsample.lowpass.filter": (1, 1, 12),
        "conv_post.weight_v": (1, 24, 7),
    }
    for name, shape in shapes.items():
        assert tuple(state[name].shape) == shape, name
