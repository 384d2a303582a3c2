import hashlib
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

from tts_core.backends.indextts2 import dit  # noqa: E402
from tts_core.backends.indextts2.s2mel import (  # noqa: E402
    S2Mel,
    S2MelConfig,
    cfm_generate,
    length_regulate,
    load_s2mel,
    gpt_layer,
)
from tts_core.errors import ModelFileError, UnsupportedRequestError  # noqa: E402

# The `s2mel:` section of the release's config.yaml (sizes and architecture switches).
RELEASE_SECTION = """
dit_type: DiT
reg_loss_type: l1
style_encoder: {dim: 192}
length_regulator:
  channels: 512
  is_discrete: false
  in_channels: 1024
  content_codebook_size: 2048
  sampling_ratios: [1, 1, 1, 1]
  vector_quantize: false
  n_codebooks: 1
  quantizer_dropout: 0.0
  f0_condition: false
  n_f0_bins: 512
DiT:
  hidden_dim: 512
  num_heads: 8
  depth: 13
  class_dropout_prob: 0.1
  block_size: 8192
  in_channels: 80
  style_condition: true
  final_layer_type: wavenet
  target: mel
  content_dim: 512
  content_codebook_size: 1024
  content_type: discrete
  f0_condition: false
  n_f0_bins: 512
  content_codebooks: 1
  is_causal: false
  long_skip_connection: true
  zero_prompt_speech_token: false
  time_as_token: false
  style_as_token: false
  uvit_skip_connection: true
  add_resblock_in_transformer: false
wavenet:
  hidden_dim: 512
  num_layers: 8
  kernel_size: 5
  dilation_rate: 1
  p_dropout: 0.2
  style_condition: true
"""

# Depth 3 so one block receives a U-ViT skip.
TINY = S2MelConfig(
    n_mels=12, hidden_dim=32, num_heads=4, depth=3, content_dim=24, content_codebook_size=7,
    style_dim=8, wavenet_layers=2, wavenet_kernel_size=5, semantic_dim=20, regulator_blocks=2,
    regulator_codebook_size=9, gpt_dim=40, max_frames=128,
)
PARTS = ("cfm", "length_regulator", "gpt_layer")


def random_model(config=TINY, seed=0):
    torch.manual_seed(seed)
    model = S2Mel(config)
    with torch.no_grad():  # no zero-initialised tensors: every weight should matter
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def save_official(model, path):
    """The release's layout: one state dict per part under 'net'."""
    sd = model.state_dict()
    net = {part: {k[len(part) + 1:]: v for k, v in sd.items() if k.startswith(part + ".")} for part in PARTS}
    torch.save({"net": net}, path)


def numpy_model(seed=0):
    """TINY with weights drawn by numpy, so the same model can be built anywhere: the
    golden values below come from the official implementation run on these weights."""
    rng = np.random.default_rng(seed)
    model = S2Mel(TINY).eval()
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            gain = 1.0 if name.endswith(("norm.weight", "weight_g")) else 0.0
            p.copy_(torch.from_numpy(gain + 0.2 * rng.standard_normal(p.shape)))
    return model


def golden_inputs(seed=1, P=5, N=7):
    rng = np.random.default_rng(seed)

    def draw(*shape):
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))

    return draw(1, P + N, TINY.content_dim), draw(1, TINY.n_mels, P), draw(1, TINY.style_dim), draw(1, TINY.n_mels, P + N)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("s2mel") / "s2mel.pth"
    save_official(random_model(), path)
    return load_s2mel(path, TINY)


def test_release_config_and_checkpoint_names():
    config = S2MelConfig.from_dict(yaml.safe_load(RELEASE_SECTION))
    assert config == S2MelConfig()
    with torch.device("meta"):
        model = S2Mel(config)
    sd = model.state_dict()
    # 284 tensors, 103,668,944 floats, and a digest of every sorted "name:shape" of s2mel.pth.
    assert len(sd) == 284
    assert sum(t.numel() for t in sd.values() if t.is_floating_point()) == 103_668_944
    listing = "\n".join(f"{part}.{name}:{tuple(sd[part + '.' + name].shape)}"
                        for part, name in sorted(k.split(".", 1) for k in sd))
    assert hashlib.sha256(listing.encode()).hexdigest() == (
        "314d85547f79f8a6ec454c543226584037019015f5a06e197b847da2db30fb06"
    )
    assert sd["cfm.estimator.cond_x_merge_linear.weight"].shape == (512, 864)
    assert sd["cfm.estimator.transformer.layers.12.feed_forward.w1.weight"].shape == (1536, 512)
    assert sd["cfm.estimator.wavenet.cond_layer.conv.conv.weight_v"].shape == (8192, 512, 1)
    assert sd["cfm.estimator.input_pos"].dtype == torch.int64


def test_config_rejects_other_architectures():
    section = yaml.safe_load(RELEASE_SECTION)
    section["DiT"]["time_as_token"] = True
    with pytest.raises(ModelFileError, match="time_as_token"):
        S2MelConfig.from_dict(section)
    section = yaml.safe_load(RELEASE_SECTION)
    del section["wavenet"]
    with pytest.raises(ModelFileError, match="wavenet"):
        S2MelConfig.from_dict(section)


def test_load_is_strict_and_names_what_is_wrong(tmp_path):
    model = random_model(seed=1)
    path = tmp_path / "s2mel.pth"
    save_official(model, path)
    loaded = load_s2mel(path, TINY)
    assert not loaded.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name

    net = torch.load(path)["net"]
    del net["cfm"]["estimator.transformer.layers.2.skip_in_linear.bias"]
    net["length_regulator"]["proj.weight"] = net["length_regulator"].pop("content_in_proj.weight")
    net["gpt_layer"]["0.bias"] = torch.zeros(3)
    torch.save({"net": net}, tmp_path / "bad.pth")
    with pytest.raises(ModelFileError) as err:
        load_s2mel(tmp_path / "bad.pth", TINY)
    message = str(err.value)
    assert "cfm.estimator.transformer.layers.2.skip_in_linear.bias" in message
    assert "length_regulator.content_in_proj.weight" in message and "length_regulator.proj.weight" in message
    assert "gpt_layer.0.bias (3,)" in message

    torch.save({"net": {"cfm": net["cfm"]}}, tmp_path / "partial.pth")
    with pytest.raises(ModelFileError, match="not an S2M checkpoint"):
        load_s2mel(tmp_path / "partial.pth", TINY)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_s2mel(tmp_path / "junk.pth", TINY)
    with pytest.raises(ModelFileError, match="not found"):
        load_s2mel(tmp_path / "absent.pth", TINY)
    with pytest.raises(ModelFileError, match="does not match"):
        load_s2mel(path, S2MelConfig(**{**TINY.__dict__, "depth": 2}))


def test_length_regulate_against_numpy(tiny):
    rng = np.random.default_rng(0)
    S = rng.standard_normal((1, 7, TINY.semantic_dim)).astype(np.float32)
    sd = {k: v.double().numpy() for k, v in tiny.length_regulator.state_dict().items()}

    def reference(frames):
        x = S[0].astype(np.float64) @ sd["content_in_proj.weight"].T + sd["content_in_proj.bias"]
        x = x[np.floor(np.arange(frames) * (7 / frames)).astype(int)].T  # nearest source token
        for i in range(TINY.regulator_blocks):
            w, b = sd[f"model.{3 * i}.weight"], sd[f"model.{3 * i}.bias"]
            padded = np.pad(x, ((0, 0), (1, 1)))
            x = sum(w[:, :, k] @ padded[:, k:k + frames] for k in range(3)) + b[:, None]
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-5)  # group norm, one group
            x = x * sd[f"model.{3 * i + 1}.weight"][:, None] + sd[f"model.{3 * i + 1}.bias"][:, None]
            x = x * np.tanh(np.log1p(np.exp(x)))  # Mish
        last = f"model.{3 * TINY.regulator_blocks}"
        return (sd[last + ".weight"][:, :, 0] @ x + sd[last + ".bias"][:, None]).T

    with torch.no_grad():
        for frames in (5, 7, 12, 31):  # shorter, equal, longer, not a multiple
            out = length_regulate(tiny, torch.from_numpy(S), frames)
            assert out.shape == (1, frames, TINY.content_dim)
            np.testing.assert_allclose(out[0].numpy(), reference(frames), rtol=1e-4, atol=1e-4)
    with pytest.raises(UnsupportedRequestError):
        length_regulate(tiny, torch.from_numpy(S), 0)


def test_gpt_projection_is_three_affine_maps(tiny):
    latent = torch.randn(2, 5, TINY.gpt_dim)
    with torch.no_grad():
        out = gpt_layer(tiny, latent)
    x = latent.double()
    for i in range(3):
        x = x @ tiny.gpt_layer[i].weight.double().T + tiny.gpt_layer[i].bias.double()
    assert out.shape == (2, 5, TINY.semantic_dim)
    torch.testing.assert_close(out.double(), x, rtol=1e-5, atol=1e-5)


def test_weight_norm_conv_against_numpy():
    torch.manual_seed(0)
    conv = dit.WeightNormConv1d(3, 4, kernel_size=5)
    with torch.no_grad():
        conv.weight_g.uniform_(0.5, 2.0)
        conv.bias.normal_()
    for length in (9, 2):  # 2 frames: shorter than the pad, zero-extended before reflecting
        x = torch.randn(1, 3, length)
        v, g = conv.weight_v.detach().double().numpy(), conv.weight_g.detach().double().numpy()
        w = g * v / np.sqrt((v**2).sum(axis=(1, 2), keepdims=True))
        xe = x[0].double().numpy()
        if length <= 2:
            xe = np.pad(xe, ((0, 0), (0, 3 - length)))
        padded = np.pad(xe, ((0, 0), (2, 2)), mode="reflect")[:, : length + 4]
        ref = sum(w[:, :, k] @ padded[:, k:k + length] for k in range(5)) + conv.bias.detach().double().numpy()[:, None]
        with torch.no_grad():
            np.testing.assert_allclose(conv(x)[0].numpy(), ref, rtol=1e-5, atol=1e-5)


def test_time_embedding_features_and_rope_relative_positions():
    emb = dit.TimestepEmbedder(16)
    t = torch.tensor([0.0, 0.37])
    half = dit.TIME_FREQUENCIES // 2
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    angles = 1000 * t.numpy()[:, None] * freqs
    expected = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    with torch.no_grad():
        torch.testing.assert_close(emb(t), emb.mlp(torch.tensor(expected, dtype=torch.float32)), rtol=1e-4, atol=1e-4)

    # Rotary embedding: a query-key product depends only on the distance between positions.
    q, k = torch.randn(8), torch.randn(8)
    cos, sin = dit.rope_table(torch.arange(40), 8)

    def score(i, j):
        rq = dit.apply_rope(q.expand(1, 40, 1, 8).contiguous(), cos, sin)[0, i, 0]
        rk = dit.apply_rope(k.expand(1, 40, 1, 8).contiguous(), cos, sin)[0, j, 0]
        return float(rq @ rk)

    assert score(3, 10) == pytest.approx(score(20, 27), abs=1e-4)
    assert score(0, 0) == pytest.approx(float(q @ k), abs=1e-5)
    assert score(3, 10) != pytest.approx(score(3, 11), abs=1e-3)


def inputs(seed=0, B=1, P=6, N=9):
    g = torch.Generator().manual_seed(seed)
    condition = torch.randn(B, P + N, TINY.content_dim, generator=g)
    prompt = torch.randn(B, TINY.n_mels, P, generator=g)
    style = torch.randn(B, TINY.style_dim, generator=g)
    return condition, prompt, style


def test_cfm_generate_shapes_noise_and_determinism(tiny):
    condition, prompt, style = inputs()
    out = cfm_generate(tiny, condition, prompt, style, steps=3, generator=torch.Generator().manual_seed(5))
    assert out.shape == (1, TINY.n_mels, 9)
    again = cfm_generate(tiny, condition, prompt, style, steps=3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(out, again)
    other = cfm_generate(tiny, condition, prompt, style, steps=3, generator=torch.Generator().manual_seed(6))
    assert not torch.allclose(out, other)

    # `noise` is the same draw the generator makes; its prompt part is ignored.
    noise = torch.randn(1, TINY.n_mels, 15, generator=torch.Generator().manual_seed(5))
    assert torch.equal(cfm_generate(tiny, condition, prompt, style, steps=3, noise=noise), out)
    noise[..., :6] = 100.0
    assert torch.equal(cfm_generate(tiny, condition, prompt, style, steps=3, noise=noise), out)
    assert noise[0, 0, 0] == 100.0  # the caller's tensor is left alone

    # The prompt and style steer the result.
    assert not torch.allclose(cfm_generate(tiny, condition, prompt * 0.5, style, steps=3, noise=noise), out)
    assert not torch.allclose(cfm_generate(tiny, condition, prompt, -style, steps=3, noise=noise), out)

    batch = cfm_generate(tiny, condition.expand(2, -1, -1), prompt.expand(2, -1, -1), style.expand(2, -1),
                         steps=3, noise=noise.expand(2, -1, -1))
    torch.testing.assert_close(batch[1], out[0], rtol=1e-5, atol=1e-5)


def test_one_step_is_guided_euler_from_the_estimator(tiny):
    condition, prompt, style = inputs(seed=1)
    P, T = prompt.shape[-1], condition.shape[1]
    noise = torch.randn(1, TINY.n_mels, T)
    x = noise.clone()
    x[..., :P] = 0
    prompt_x = torch.zeros_like(x)
    prompt_x[..., :P] = prompt
    t0 = torch.zeros(1)
    with torch.no_grad():
        v = tiny.cfm.estimator(x, prompt_x, t0, style, condition)
        v_free = tiny.cfm.estimator(x, torch.zeros_like(x), t0, torch.zeros_like(style), torch.zeros_like(condition))
    for rate in (0.0, 0.7):
        expected = (x + (1 + rate) * v - rate * v_free)[..., P:]
        got = cfm_generate(tiny, condition, prompt, style, steps=1, cfg_rate=rate, noise=noise)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_cfm_generate_rejects_impossible_lengths(tiny):
    condition, prompt, style = inputs()
    long = torch.zeros(1, TINY.max_frames + 1, TINY.content_dim)
    with pytest.raises(UnsupportedRequestError, match="at most 128"):
        cfm_generate(tiny, long, prompt, style, steps=1)
    with pytest.raises(ValueError):
        cfm_generate(tiny, condition[:, :6], prompt, style, steps=1)
    with pytest.raises(ValueError):
        cfm_generate(tiny, condition, prompt, style, steps=1, noise=torch.zeros(1, TINY.n_mels, 3))


def test_runs_under_reduced_precision_autocast(tiny):
    condition, prompt, style = inputs(seed=2)
    noise = torch.randn(1, TINY.n_mels, condition.shape[1])
    full = cfm_generate(tiny, condition, prompt, style, steps=2, noise=noise)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = cfm_generate(tiny, condition, prompt, style, steps=2, noise=noise)
    assert torch.isfinite(low).all()
    assert (low.float() - full).abs().max() < 0.1 * full.abs().max()


def test_matches_values_from_the_official_implementation():
    # The official CFM (Euler, 3 steps, guidance 0.7) run on numpy_model()'s weights and
    # golden_inputs(); the first 4 bins x 4 frames generated, then the sums of all 12 x 7.
    official = [
        [0.880663, -0.372119, 0.198313, -2.245269],
        [1.378251, -1.031975, -2.606178, 1.278767],
        [-0.531331, -0.702768, 0.600310, 0.412134],
        [2.794925, 0.428753, 0.780258, 1.199159],
    ]
    condition, prompt, style, noise = golden_inputs()
    out = cfm_generate(numpy_model(), condition, prompt, style, steps=3, cfg_rate=0.7, noise=noise)
    assert out.shape == (1, 12, 7)
    np.testing.assert_allclose(out[0, :4, :4].numpy(), official, atol=1e-4)
    assert float(out.abs().sum()) == pytest.approx(158.47699, abs=2e-3)
    assert float(out.sum()) == pytest.approx(99.14450, abs=2e-3)
