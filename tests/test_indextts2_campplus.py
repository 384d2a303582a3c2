"""CAMPPlus speaker encoder: release layout, strict loading, and eval-mode behaviour on a tiny model."""

import hashlib

import pytest

torch = pytest.importorskip("torch")

from tts_core.backends.indextts2.campplus import (  # noqa: E402
    CAMPPlus,
    CAMPPlusConfig,
    load_campplus,
    segment_means,
    speaker_style,
)
from tts_core.errors import ModelFileError  # noqa: E402

TINY = CAMPPlusConfig(
    feat_dim=16,
    embedding_size=8,
    head_channels=4,
    init_channels=8,
    growth_rate=4,
    bn_size=2,
    block_layers=(2, 1, 1),
    segment_frames=10,
)
# SHA-256 of the sorted "name shape dtype" lines of the release's campplus_cn_common.bin.
RELEASE_LAYOUT_SHA256 = "922c53ff2ccf57a3d0c17091042f8fc455bba4dcd2b2c6b3a152e1b9502200f9"


def tiny_model(seed=0):
    """A tiny encoder whose batchnorms have non-trivial statistics, so eval mode matters."""
    torch.manual_seed(seed)
    model = CAMPPlus(TINY)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.3)
                module.running_var.uniform_(0.5, 2.0)
                if module.affine:
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0, 0.2)
    return model.eval()


@pytest.fixture
def saved(tmp_path):
    model = tiny_model()
    path = tmp_path / "campplus_cn_common.bin"
    torch.save(model.state_dict(), path)
    return model, path


def test_full_size_layout_matches_the_release():
    with torch.device("meta"):
        model = CAMPPlus()
    state = model.state_dict()
    lines = "\n".join(f"{k} {tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}" for k, v in sorted(state.items()))
    assert len(state) == 937
    assert sum(v.numel() for v in state.values() if v.is_floating_point()) == 6_930_720
    assert state["xvector.tdnn.linear.weight"].shape == (128, 320, 5)
    assert state["xvector.block3.tdnnd16.cam_layer.linear_local.weight"].shape == (32, 128, 3)
    assert state["xvector.dense.linear.weight"].shape == (192, 1024, 1)
    assert hashlib.sha256(lines.encode()).hexdigest() == RELEASE_LAYOUT_SHA256


def test_loaded_model_reproduces_the_saved_one(saved):
    model, path = saved
    loaded = load_campplus(path, cfg=TINY)
    assert not loaded.training
    fbank = torch.randn(45, 16, generator=torch.Generator().manual_seed(1)) * 2 - 6
    style = speaker_style(loaded, fbank)
    assert style.shape == (1, 8) and torch.isfinite(style).all()
    with torch.no_grad():
        expected = model((fbank - fbank.mean(0)).unsqueeze(0))
    torch.testing.assert_close(style, expected, rtol=0, atol=0)
    torch.testing.assert_close(speaker_style(loaded, fbank), style, rtol=0, atol=0)


def test_style_ignores_a_constant_offset_per_bin(saved):
    model = load_campplus(saved[1], cfg=TINY)
    fbank = torch.randn(60, 16, generator=torch.Generator().manual_seed(2))
    offset = torch.linspace(-3, 3, 16)  # a fixed channel gain, in the log domain
    torch.testing.assert_close(speaker_style(model, fbank + offset), speaker_style(model, fbank), atol=1e-5, rtol=1e-5)
    wider = speaker_style(model, fbank * 3)  # a different dynamic range is a different voice
    assert (wider - speaker_style(model, fbank)).abs().max() > 0.05


def test_eval_mode_keeps_utterances_independent(saved):
    model = load_campplus(saved[1], cfg=TINY)
    feats = torch.randn(2, 33, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        together = model(feats)
        apart = torch.cat([model(feats[:1]), model(feats[1:])])
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=1e-5)


def test_pooling_and_embedding_use_running_statistics(saved):
    model = load_campplus(saved[1], cfg=TINY)
    seen = {}
    model.xvector.out_nonlinear.register_forward_hook(lambda m, i, o: seen.update(frames=o))
    with torch.no_grad():
        out = model(torch.randn(1, 50, 16, generator=torch.Generator().manual_seed(4)))
    frames = seen["frames"][0]  # (channels, time)
    assert frames.shape[1] == 25  # the entry TDNN halves time; the front end keeps it
    pooled = torch.cat([frames.mean(1), frames.std(1, unbiased=True)])
    dense = model.xvector.dense
    projected = dense.linear.weight[:, :, 0] @ pooled
    bn = dense.nonlinear.batchnorm
    expected = (projected - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=1e-5)


def test_segment_means_average_blocks_of_frames():
    x = torch.randn(2, 3, 23, generator=torch.Generator().manual_seed(5))
    got = segment_means(x, 10)
    for start in (0, 10, 20):
        block = x[..., start : start + 10]
        torch.testing.assert_close(got[..., start : start + 10], block.mean(-1, keepdim=True).expand_as(block))


def test_loading_is_strict(saved, tmp_path):
    model, _ = saved
    state = model.state_dict()

    missing = dict(state)
    del missing["xvector.block1.tdnnd2.cam_layer.linear2.bias"]
    torch.save(missing, tmp_path / "missing.bin")
    with pytest.raises(ModelFileError, match="1 missing"):
        load_campplus(tmp_path / "missing.bin", cfg=TINY)

    renamed = {k.replace("head.conv1.", "head.conv0."): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.bin")
    with pytest.raises(ModelFileError, match="1 unexpected"):
        load_campplus(tmp_path / "renamed.bin", cfg=TINY)

    with pytest.raises(ModelFileError, match="misshapen"):
        load_campplus(saved[1], cfg=CAMPPlusConfig(**{**TINY.__dict__, "growth_rate": 6}))

    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="junk.bin"):
        load_campplus(tmp_path / "junk.bin", cfg=TINY)
