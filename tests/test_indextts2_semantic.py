"""IndexTTS-2 semantic front end: w2v-BERT 2.0 features (cut to 17 layers) and the MaskGCT
semantic codec, on tiny random models saved in the release's file formats."""

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from safetensors.torch import load_file, save_file  # noqa: E402

from tts_core.backends.indextts2 import semantic as S  # noqa: E402
from tts_core.errors import ModelFileError  # noqa: E402

TINY_CODEC = S.SemanticCodecConfig(
    codebook_size=32, hidden_size=16, codebook_dim=4, vocos_dim=8, vocos_intermediate_dim=16, vocos_num_layers=2
)


def shapes_digest(state: dict) -> str:
    text = "\n".join(f"{k} {list(v.shape)}" for k, v in sorted(state.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def randomise(module, seed: int = 0):
    """Every tensor random, so LayerNorm scales and layer-scale gammas matter too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


@pytest.fixture
def codec_file(tmp_path):
    codec = randomise(S.SemanticCodec(TINY_CODEC))
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(path))
    return path


# ---------------------------------------------------------------------------------------
# semantic codec


def test_codec_full_size_names_and_shapes_match_release():
    with torch.device("meta"):
        codec = S.SemanticCodec(S.SemanticCodecConfig())
    state = codec.state_dict()
    assert len(state) == 239
    assert sum(v.numel() for v in state.values()) == 44_289_808
    # sha256 of the release's "name [shape]" lines (keys/semantic_codec.json), sorted
    assert shapes_digest(state) == "80a9efe55a0663271476318be50f6b53e3cd80061709965fb390afc6f7e4bdb7"


def test_codec_config_reads_the_release_section():
    section = dict(
        codebook_size=8192,
        hidden_size=1024,
        codebook_dim=8,
        vocos_dim=384,
        vocos_intermediate_dim=2048,
        vocos_num_layers=12,
    )
    assert S.SemanticCodecConfig.from_dict(section) == S.SemanticCodecConfig()
    with pytest.raises(ModelFileError, match="downsample_scale"):
        S.SemanticCodecConfig.from_dict({**section, "downsample_scale": 2})


def test_codec_quantize_picks_the_nearest_code_by_cosine(codec_file):
    codec = S.load_semantic_codec(codec_file, TINY_CODEC)
    feat = torch.randn(2, 23, 16, generator=torch.Generator().manual_seed(1))
    codes, emb = codec.quantize(feat)
    assert codes.shape == (2, 23) and codes.dtype == torch.long
    assert emb.shape == (2, 23, 16)
    assert int(codes.min()) >= 0 and int(codes.max()) < 32
    again = codec.quantize(feat)
    assert torch.equal(again[0], codes) and torch.equal(again[1], emb)

    # independent reference from the stored tensors: weight-normalised 1x1 projections,
    # cosine similarity against the codebook
    state = load_file(str(codec_file))

    def wn(prefix):
        v, g = state[prefix + ".weight_v"][..., 0], state[prefix + ".weight_g"][..., 0]
        return g * v / v.norm(dim=1, keepdim=True), state[prefix + ".bias"]

    with torch.no_grad():
        z = codec.encoder(feat.transpose(1, 2))  # (B, T, D)
    w_in, b_in = wn("quantizer.quantizers.0.in_project")
    w_out, b_out = wn("quantizer.quantizers.0.out_project")
    latents = torch.nn.functional.normalize(z @ w_in.T + b_in, dim=-1)
    book = torch.nn.functional.normalize(state["quantizer.quantizers.0.codebook.weight"], dim=-1)
    assert torch.equal(codes, (latents @ book.T).argmax(-1))
    expected = state["quantizer.quantizers.0.codebook.weight"][codes] @ w_out.T + b_out
    torch.testing.assert_close(emb, expected, rtol=1e-5, atol=1e-5)


def test_codec_vq2emb_is_the_embedding_quantize_returns(codec_file):
    codec = S.load_semantic_codec(codec_file, TINY_CODEC)
    codes, emb = codec.quantize(torch.randn(1, 40, 16, generator=torch.Generator().manual_seed(2)))
    back = codec.vq2emb(codes)
    assert back.shape == (1, 16, 40)
    torch.testing.assert_close(back.transpose(1, 2), emb)


def test_codec_loading_is_strict(codec_file, tmp_path):
    state = load_file(str(codec_file))
    broken = {
        "missing": {k: v for k, v in state.items() if k != "decoder.1.bias"},
        "renamed": {k.replace("encoder.0.norm.", "encoder.0.layer_norm."): v for k, v in state.items()},
        "reshaped": {**state, "quantizer.quantizers.0.codebook.weight": torch.zeros(33, 4)},
    }
    for name, sd in broken.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(sd, str(path))
        with pytest.raises(ModelFileError):
            S.load_semantic_codec(path, TINY_CODEC)
    with pytest.raises(ModelFileError, match="not found"):
        S.load_semantic_codec(tmp_path / "absent.safetensors", TINY_CODEC)


# ---------------------------------------------------------------------------------------
# w2v-BERT 2.0


def tiny_w2v_config(layers: int):
    from transformers import Wav2Vec2BertConfig

    return Wav2Vec2BertConfig(
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        output_hidden_size=32,
        conv_depthwise_kernel_size=5,
        left_max_position_embeddings=8,
        right_max_position_embeddings=2,
    )


@pytest.fixture(scope="module")
def w2v_folder(tmp_path_factory):
    """A hub-like folder holding a 19-layer model: more layers than are read, as the release."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertModel

    folder = tmp_path_factory.mktemp("w2v")
    torch.manual_seed(0)
    full = Wav2Vec2BertModel(tiny_w2v_config(19)).eval()
    full.save_pretrained(folder)
    SeamlessM4TFeatureExtractor(
        feature_size=80, num_mel_bins=80, sampling_rate=16000, stride=2, padding_value=1.0, return_attention_mask=True
    ).save_pretrained(folder)
    return folder, full


def test_w2v_full_size_names_and_shapes_match_release():
    from transformers import Wav2Vec2BertConfig

    config = Wav2Vec2BertConfig(num_hidden_layers=S.W2V_LAYER)  # the defaults are w2v-BERT 2.0
    with torch.device("meta"):
        model = S._first_layers_class()(config)
    state = model.state_dict()
    assert len(state) == 549
    # the release's keys (keys/w2v_bert.json) without layers 17..23
    assert shapes_digest(state) == "bb32856d3924755f8de8ab8cbeeef835602ae118334dadb545de12681a460fd8"


def test_w2v_cut_model_gives_layer_17_of_the_full_model(w2v_folder, capfd):
    folder, full = w2v_folder
    model, extractor = S.load_w2v_bert(folder)
    assert len(model.encoder.layers) == S.W2V_LAYER
    assert "UNEXPECTED" not in capfd.readouterr().err  # the unread deeper layers are not reported

    g = torch.Generator().manual_seed(3)
    stats = {"mean": torch.randn(32, generator=g), "var": torch.rand(32, generator=g) + 0.5}
    wave = torch.randn(1, 16000, generator=g) * 0.1
    feat = S.w2v_features(model, extractor, stats, wave)
    assert feat.shape == (1, 49, 32)  # 50 frames a second

    inputs = extractor(wave[0].numpy(), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        hidden = full(**inputs, output_hidden_states=True).hidden_states[17]
    expected = (hidden - stats["mean"]) / stats["var"].sqrt()
    torch.testing.assert_close(feat, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(feat, S.w2v_features(model, extractor, stats, wave))


def test_w2v_missing_layer_weights_fail(w2v_folder, tmp_path):
    import shutil

    folder, _ = w2v_folder
    broken = tmp_path / "w2v"
    shutil.copytree(folder, broken)
    state = load_file(str(broken / "model.safetensors"))
    del state["encoder.layers.3.ffn1.output_dense.weight"]
    save_file(state, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match="encoder.layers.3"):
        S.load_w2v_bert(broken)
    with pytest.raises(ModelFileError):
        S.load_w2v_bert(tmp_path / "nowhere")


def test_w2v_too_few_layers_fail(tmp_path):
    from transformers import Wav2Vec2BertModel

    Wav2Vec2BertModel(tiny_w2v_config(4)).save_pretrained(tmp_path)
    with pytest.raises(ModelFileError, match="4 layers"):
        S.load_w2v_bert(tmp_path)


def test_w2v_stats_file(tmp_path):
    mean, var = np.arange(4, dtype=np.float32), np.full(4, 4.0, dtype=np.float32)
    torch.save({"mean": torch.from_numpy(mean), "var": torch.from_numpy(var)}, tmp_path / "stats.pt")
    stats = S.load_w2v_stats(tmp_path / "stats.pt")
    assert torch.equal(stats["mean"], torch.from_numpy(mean))
    torch.save({"mean": torch.zeros(4)}, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="'var'"):
        S.load_w2v_stats(tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="not found"):
        S.load_w2v_stats(tmp_path / "absent.pt")
