"""IndexTTS-2's GPT (UnifiedVoice v2) on tiny random models saved in the official format."""

import hashlib
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tts_core.backends.indextts2.conformer import ConformerConfig  # noqa: E402
from tts_core.backends.indextts2 import gpt  # noqa: E402
from tts_core.backends.indextts2.decoding import Decoding, process, seen_codes  # noqa: E402
from tts_core.backends.indextts2.gpt import GPTConfig, UnifiedVoice, load_gpt  # noqa: E402
from tts_core.errors import ModelFileError, UnsupportedRequestError  # noqa: E402

# The `gpt:` section of the release's config.yaml.
RELEASE_SECTION = {
    "model_dim": 1280, "max_mel_tokens": 1815, "max_text_tokens": 600, "heads": 20,
    "use_mel_codes_as_input": True, "mel_length_compression": 1024, "layers": 24,
    "number_text_tokens": 12000, "number_mel_codes": 8194, "start_mel_token": 8192,
    "stop_mel_token": 8193, "start_text_token": 0, "stop_text_token": 1,
    "train_solo_embeddings": False, "condition_type": "conformer_perceiver",
    "condition_module": {"output_size": 512, "linear_units": 2048, "attention_heads": 8,
                         "num_blocks": 6, "input_layer": "conv2d2", "perceiver_mult": 2},
    "emo_condition_module": {"output_size": 512, "linear_units": 1024, "attention_heads": 4,
                             "num_blocks": 4, "input_layer": "conv2d2", "perceiver_mult": 2},
}  # fmt: skip
# The release gpt.pth: 665 tensors, their total size, and the SHA-256 of the sorted
# "name:AxB" lines of every name and shape.
RELEASE_TENSORS = 665
RELEASE_VALUES = 871_100_639
RELEASE_DIGEST = "7d161b6f63dbca4c7173b5c3f1db0ced2bea7be9fc78d6f6f46638c5250ba75f"

TINY = GPTConfig(
    model_dim=64, layers=2, heads=4, max_mel_tokens=40, max_text_tokens=16, number_text_tokens=50,
    number_mel_codes=34, start_mel_token=32, stop_mel_token=33, condition_num_latent=4,
    condition_module=ConformerConfig(output_size=32, linear_units=64, attention_heads=2, num_blocks=1),
    emo_condition_module=ConformerConfig(output_size=32, linear_units=48, attention_heads=2, num_blocks=1),
    feature_dim=24, emotion_dim=48,
)  # fmt: skip
STOP = TINY.stop_mel_token
TEXT = [5, 9, 2, 17, 30]


def random_state(seed=0, stop_bias=0.0):
    """A tiny UnifiedVoice's state dict with every tensor random (norm gains around 1)."""
    torch.manual_seed(seed)
    model = UnifiedVoice(TINY)
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in model.state_dict().items():
        if name.endswith(".pe"):
            state[name] = t.clone()
            continue
        is_gain = name.endswith("gamma") or (name.endswith("weight") and ("norm" in name or ".ln_" in name))
        state[name] = float(is_gain) + 0.3 * torch.randn(t.shape, generator=g)
    state["mel_head.bias"][STOP] += stop_bias
    return state


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "gpt.pth"
    torch.save({"model": random_state(stop_bias=-20.0)}, path)  # never stops by itself
    return load_gpt(path, TINY)


def features(frames, seed):
    return torch.randn(1, frames, TINY.feature_dim, generator=torch.Generator().manual_seed(seed))


def conditioning(model):
    cond = model.speaker_conditioning(features(21, 1))
    emovec = model.merge_emovec(features(21, 1), features(17, 2), alpha=0.6)
    return cond, emovec


def prompt_rows(model, cond, emovec, text, mel_codes, mel_positions):
    """The prompt written out from the parameters: [latents + emotion | speed_emb[1] |
    speed_emb[0] | start, text, stop | codes at the given positions]."""
    speed = model.speed_emb.weight
    ids = torch.tensor([[TINY.start_text_token, *text, TINY.stop_text_token]])
    text_rows = model.text_embedding(ids) + model.text_pos_embedding.emb.weight[: ids.size(1)]
    codes = torch.tensor([mel_codes])
    code_rows = model.mel_embedding(codes) + model.mel_pos_embedding.emb.weight[list(mel_positions)]
    slots = (speed[1][None, None], speed[0][None, None])
    return torch.cat((cond + emovec[:, None], *slots, text_rows, code_rows), dim=1)


def next_logits(model, rows):
    """The code logits after the last row, from one full (uncached) forward."""
    return model.mel_head(model.final_norm(model.gpt(rows)[:, -1]))[0]


def test_release_config_builds_the_official_state_dict():
    config = GPTConfig.from_dict(RELEASE_SECTION)
    assert config == GPTConfig()
    with torch.device("meta"):
        model = UnifiedVoice(config)
    state = model.state_dict()
    assert len(state) == RELEASE_TENSORS
    assert sum(t.numel() for t in state.values()) == RELEASE_VALUES
    assert tuple(state["conditioning_encoder.embed.out.0.weight"].shape) == (512, 261632)
    assert tuple(state["emo_perceiver_encoder.layers.1.1.0.weight"].shape) == (2730, 1024)
    assert tuple(state["mel_pos_embedding.emb.weight"].shape) == (1818, 1280)
    lines = "\n".join(f"{k}:{'x'.join(map(str, t.shape))}" for k, t in sorted(state.items()))
    assert hashlib.sha256(lines.encode()).hexdigest() == RELEASE_DIGEST


def test_config_rejects_what_it_does_not_implement():
    with pytest.raises(ModelFileError, match="condition_type"):
        GPTConfig.from_dict({**RELEASE_SECTION, "condition_type": "perceiver"})
    with pytest.raises(ModelFileError, match="unknown key"):
        GPTConfig.from_dict({**RELEASE_SECTION, "use_accel": True})
    conv4 = {**RELEASE_SECTION["condition_module"], "input_layer": "conv2d"}
    with pytest.raises(ModelFileError, match="input_layer"):
        GPTConfig.from_dict({**RELEASE_SECTION, "condition_module": conv4})


def test_loading_is_strict_and_reads_both_file_layouts(tmp_path):
    state = random_state()
    wrapped, plain = tmp_path / "wrapped.pth", tmp_path / "plain.pth"
    torch.save({"model": state}, wrapped)
    torch.save(state, plain)
    for path in (wrapped, plain):
        loaded = load_gpt(path, TINY).state_dict()
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state)

    broken = dict(state)
    del broken["gpt.h.1.attn.c_attn.weight"]
    broken["gpt.h.1.attn.c_attn.weights"] = state["gpt.h.1.attn.c_attn.weight"]
    broken["speed_emb.weight"] = torch.zeros(3, TINY.model_dim)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ModelFileError) as err:
        load_gpt(tmp_path / "broken.pth", TINY)
    message = str(err.value)
    assert "missing: gpt.h.1.attn.c_attn.weight" in message
    assert "unexpected: gpt.h.1.attn.c_attn.weights" in message
    assert "speed_emb.weight (3, 64)" in message

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError):
        load_gpt(tmp_path / "junk.pth", TINY)
    with pytest.raises(ModelFileError, match="not found"):
        load_gpt(tmp_path / "absent.pth", TINY)


def test_conditioning_shapes_emotion_blend_and_position_table(model):
    feats = features(21, 1)
    assert model.conditioning_encoder(feats).shape == (1, 10, 32)  # conv2d2: (T - 1) // 2 frames
    cond = model.speaker_conditioning(feats)
    assert cond.shape == (1, TINY.condition_num_latent, TINY.model_dim)
    assert torch.equal(cond, model.speaker_conditioning(feats))

    base, emo = model.emotion_vector(feats), model.emotion_vector(features(17, 2))
    assert base.shape == (1, TINY.model_dim)
    assert torch.equal(model.merge_emovec(feats, features(17, 2), alpha=0.0), base)
    torch.testing.assert_close(model.merge_emovec(feats, features(17, 2), alpha=1.0), emo)
    torch.testing.assert_close(model.merge_emovec(feats, features(17, 2), alpha=0.5), (base + emo) / 2)

    # The relative-position table is the standard sinusoid, written here with numpy.
    width = TINY.condition_module.output_size
    pos = np.arange(50)[:, None]
    angle = pos / np.power(10000.0, np.arange(0, width, 2) / width)
    pe = model.conditioning_encoder.embed.pos_enc.pe[0, :50].numpy()
    np.testing.assert_allclose(pe[:, 0::2], np.sin(angle), atol=1e-5)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(angle), atol=1e-5)


def test_rel_position_attention_without_position_terms_is_plain_attention(model):
    attn = model.conditioning_encoder.encoders[0].self_attn
    with torch.no_grad():
        attn.pos_bias_u.zero_()
        attn.linear_pos.weight.zero_()
        x = torch.randn(1, 7, 32, generator=torch.Generator().manual_seed(3))
        got = attn(x, torch.zeros(1, 7, 32))
        heads = lambda t: t.view(1, 7, 2, 16).transpose(1, 2)  # noqa: E731
        q, k, v = heads(attn.linear_q(x)), heads(attn.linear_k(x)), heads(attn.linear_v(x))
        plain = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        want = attn.linear_out(plain.transpose(1, 2).reshape(1, 7, 32))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_cached_generation_equals_full_forward_and_latents_layout(model):
    cond, emovec = conditioning(model)
    greedy = dict(num_beams=1, do_sample=False, repetition_penalty=1.0)
    codes = model.generate(cond, TEXT, emovec, max_tokens=9, **greedy)
    assert codes.shape == (1, 9)
    codes = codes[0].tolist()
    with torch.no_grad():
        for i in range(len(codes)):
            # Generation embeds the start code at position 0 and the j-th code at j + 2.
            fed, positions = [TINY.start_mel_token, *codes[:i]], [0, *range(2, i + 2)]
            x = prompt_rows(model, cond, emovec, TEXT, fed, positions)
            assert int(next_logits(model, x).argmax()) == codes[i]

        latents = model.latents(cond, TEXT, codes, emovec)
        mel = [TINY.start_mel_token, *codes, STOP]
        x = prompt_rows(model, cond, emovec, TEXT, mel, range(len(mel)))
        want = model.final_norm(model.gpt(x))[:, -len(mel) : -2]
    assert latents.shape == (1, len(codes), TINY.model_dim)
    torch.testing.assert_close(latents, want, atol=1e-5, rtol=1e-5)


def test_beam_search_finds_the_best_pair_among_the_kept_beams(model):
    """Two steps of 3-beam search, worked out by hand: the best first code + second code,
    over the three best first codes."""
    cond, emovec = conditioning(model)
    beam = dict(num_beams=3, do_sample=False, repetition_penalty=1.0)
    codes = model.generate(cond, TEXT, emovec, max_tokens=2, **beam)
    assert codes.shape == (1, 2)
    with torch.no_grad():
        x = prompt_rows(model, cond, emovec, TEXT, [TINY.start_mel_token], [0])
        first = torch.log_softmax(next_logits(model, x), -1)
        best = (-math.inf, None)
        for a in first.topk(3).indices.tolist():
            x = prompt_rows(model, cond, emovec, TEXT, [TINY.start_mel_token, a], [0, 2])
            second = torch.log_softmax(next_logits(model, x), -1)
            second[STOP] = -math.inf
            b = int(second.argmax())
            best = max(best, (float(first[a] + second[b]), [a, b]))
    assert codes[0].tolist() == best[1]


def test_logits_processors_in_transformers_order():
    scores = torch.tensor([[2.0, -1.0, 0.5, 3.0, 1.0, -2.0] + [-9.0] * (TINY.number_mel_codes - 6)])
    seen = torch.zeros_like(scores, dtype=torch.bool)
    seen[0, [0, 1]] = True

    greedy = Decoding(1, False, None, None, None, 2.0, 0.0, 10, 0, False)
    out = process(scores, seen, 0, greedy, STOP)
    assert out[0, :6].tolist() == [1.0, -2.0, 0.5, 3.0, 1.0, -2.0]  # penalty: /2 if positive, *2 if negative

    # temperature 0.5 -> [2, -4, 1, 6, 2, -4]; top-k 3 keeps 6, 2, 2 (ties kept); top-p 0.9
    # keeps 6 (p 0.96 alone covers 0.9), then the sampler sees one code.
    sampling = Decoding(1, True, 3, 0.9, 0.5, 2.0, 0.0, 10, 0, False)
    out = process(scores, seen, 0, sampling, STOP)
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [3]
    assert out[0, 3].item() == 6.0
    # Beam sampling keeps at least two codes through top-k and top-p.
    beams = Decoding(3, True, 1, 0.1, None, None, 0.0, 10, 0, False)
    assert torch.isfinite(process(scores, seen, 0, beams, STOP)[0]).nonzero().flatten().tolist() == [0, 3]
    # Before min_tokens codes the stop code is out.
    early = Decoding(1, False, None, None, None, None, 0.0, 10, 5, False)
    assert process(scores, seen, 4, early, STOP)[0, STOP] == -math.inf
    assert process(scores, seen, 5, early, STOP)[0, STOP] == scores[0, STOP]
    # The official prompt's placeholder ids (1) and the start code count as generated.
    prior = seen_codes(TINY, torch.zeros(1, 0, dtype=torch.long))
    assert prior[0].nonzero().flatten().tolist() == [1, TINY.start_mel_token]


def test_length_options(tmp_path):
    path = tmp_path / "eager.pth"
    torch.save(random_state(stop_bias=30.0), path)  # stops at once unless told not to
    eager = load_gpt(path, TINY)
    cond, emovec = conditioning(eager)
    for beams, sample in ((1, False), (1, True), (3, False), (3, True)):
        run = dict(num_beams=beams, do_sample=sample, generator=torch.Generator().manual_seed(0))
        assert eager.generate(cond, TEXT, emovec, max_tokens=12, **run).shape == (1, 0)
        assert eager.generate(cond, TEXT, emovec, min_tokens=5, max_tokens=12, **run).shape == (1, 5)
        capped = eager.generate(cond, TEXT, emovec, min_tokens=7, max_tokens=7, force_stop=True, **run)
        assert capped.shape == (1, 7)

    with pytest.raises(UnsupportedRequestError):
        eager.generate(cond, TEXT, emovec, min_tokens=8, max_tokens=7)
    with pytest.raises(UnsupportedRequestError):
        eager.generate(cond, TEXT, emovec, max_tokens=TINY.max_mel_tokens + 5)
    with pytest.raises(UnsupportedRequestError):
        eager.generate(cond, list(range(2, 2 + TINY.max_text_tokens + 1)), emovec)


def test_sampling_follows_the_generator(model):
    cond, emovec = conditioning(model)
    for beams in (1, 3):
        runs = [
            model.generate(cond, TEXT, emovec, num_beams=beams, top_k=20, top_p=0.95, temperature=1.5,
                           max_tokens=8, generator=torch.Generator().manual_seed(seed))
            for seed in (1, 1, 2, 3)
        ]  # fmt: skip
        assert all(r.shape == (1, 8) for r in runs)
        assert torch.equal(runs[0], runs[1])
        assert not (torch.equal(runs[0], runs[2]) and torch.equal(runs[0], runs[3]))


def test_module_functions_encode_the_speaker_as_the_official_calls(model):
    spk, emo = features(21, 1), features(17, 2)
    emovec = gpt.merge_emovec(model, spk, emo, 0.6)
    assert torch.equal(emovec, model.merge_emovec(spk, emo, 0.6))
    cond = model.speaker_conditioning(spk)
    greedy = dict(num_beams=1, do_sample=False, max_tokens=5)
    codes = gpt.generate(model, spk, TEXT, emovec, **greedy)
    assert torch.equal(codes, model.generate(cond, TEXT, emovec, **greedy))
    assert torch.equal(gpt.latents(model, spk, TEXT, codes, emovec), model.latents(cond, TEXT, codes, emovec))
