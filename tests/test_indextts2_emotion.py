"""IndexTTS-2 emotion vectors: the release's weight normalisation, the emotion matrix rows
picked by speaker style, and the text-to-emotion model's prompt and answer parsing (a tiny
random Qwen3 stands in for the release's fine-tune)."""

import hashlib
import json
import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tts_core.backends.indextts2 import emotion as E  # noqa: E402
from tts_core.errors import ModelFileError, UnsupportedRequestError  # noqa: E402

from .indextts2_tiny import build_tiny_qwen  # noqa: E402


def test_normalize_applies_bias_then_caps_the_sum():
    # one emotion at full strength: 1 * 0.875 for angry, then scaled to the 0.8 cap
    assert E.normalize_emo_vec([0, 1, 0, 0, 0, 0, 0, 0]) == pytest.approx([0, 0.8, 0, 0, 0, 0, 0, 0])
    # under the cap only the biases apply
    assert E.normalize_emo_vec([0.2, 0.2, 0, 0, 0, 0, 0.4, 0]) == [
        0.2 * 0.9375,
        0.2 * 0.875,
        0,
        0,
        0,
        0,
        0.4 * 0.6875,
        0,
    ]
    # over it: every weight biased, then scaled by 0.8 / sum
    biased = [w * b for w, b in zip([1] * 8, E.EMO_BIAS)]
    assert E.normalize_emo_vec([1] * 8) == pytest.approx([w * 0.8 / sum(biased) for w in biased])
    assert E.normalize_emo_vec([0.5] * 8, apply_bias=False) == pytest.approx([0.1] * 8)
    with pytest.raises(UnsupportedRequestError, match="8 values"):
        E.normalize_emo_vec([1, 0])


def test_scale_truncates_to_four_decimals():
    assert E.scale_emo_vec([0.33333, 1.0], 0.5) == [0.1666, 0.5]
    assert E.scale_emo_vec([0.3, 0.2], 2.0) == [0.3, 0.2]  # alpha is clipped to 1


def test_emotion_names_to_weights():
    assert E.emotion_weights("angry") == [0, 1, 0, 0, 0, 0, 0, 0]
    assert E.emotion_weights("Angry:0.7, sad:0.3") == [0, 0.7, 0.3, 0, 0, 0, 0, 0]
    assert E.emotion_weights({"calm": 0.5}) == [0, 0, 0, 0, 0, 0, 0, 0.5]
    with pytest.raises(UnsupportedRequestError, match="happy, angry"):
        E.emotion_weights("furious")
    with pytest.raises(UnsupportedRequestError, match="name:weight"):
        E.emotion_weights("sad:lots")
    with pytest.raises(UnsupportedRequestError):
        E.emotion_weights("sad:-1")


def make_bank(dim=6, style_dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = sum(E.EMO_NUM)
    return torch.randn(rows, dim, generator=g), torch.randn(rows, style_dim, generator=g)


def test_bank_picks_the_row_whose_speaker_matches_the_style(tmp_path):
    emo, spk = make_bank()
    style = torch.randn(1, 4, generator=torch.Generator().manual_seed(9))
    # plant a scaled copy of the style in each emotion's block at a known row
    starts = [sum(E.EMO_NUM[:i]) for i in range(8)]
    planted = [i % n for i, n in enumerate(E.EMO_NUM)]
    for start, row in zip(starts, planted):
        spk[start + row] = 3.0 * style[0]
    torch.save(emo, tmp_path / "feat2.pt")
    torch.save(spk, tmp_path / "feat1.pt")
    bank = E.EmotionBank.load(tmp_path / "feat2.pt", tmp_path / "feat1.pt")
    assert [len(t) for t in bank.emo] == list(E.EMO_NUM)
    assert bank.rows_for(style) == planted

    weights = [0.1, 0.2, 0, 0, 0.05, 0, 0.3, 0.1]
    base = torch.randn(1, 6, generator=torch.Generator().manual_seed(4))
    expected = sum(w * emo[s + r] for w, s, r in zip(weights, starts, planted)) + (1 - sum(weights)) * base[0]
    torch.testing.assert_close(E.emovec_from_vector(weights, style, bank, base)[0], expected)

    rows = bank.rows_for(style, rng=random.Random(0))
    assert all(0 <= r < n for r, n in zip(rows, E.EMO_NUM))


def test_bank_rejects_matrices_of_the_wrong_size(tmp_path):
    emo, spk = make_bank()
    with pytest.raises(ModelFileError, match="73"):
        E.EmotionBank.from_matrices(emo[:-1], spk)
    with pytest.raises(ModelFileError, match="not found"):
        E.EmotionBank.load(tmp_path / "feat2.pt", tmp_path / "feat1.pt")


@pytest.mark.parametrize(
    "reply, text, expected",
    [
        (
            '{"高兴": 0.6, "愤怒": 0.0, "惊讶": 0.3, "自然": 0.2}',
            "Great!",
            {"happy": 0.6, "surprised": 0.3, "calm": 0.2},
        ),
        ('{"高兴": 2.0, "愤怒": -1, "悲伤": 0.95}', "x", {"happy": 1.2, "sad": 0.95}),  # clamped to [0, 1.2]
        ('"angry"', "x", {"angry": 1.0}),  # a bare label
        ('{"emotion": "sad"}', "x", {"sad": 1.0}),
        ('{"高兴": "悲伤"}', "x", {"sad": 1.0}),  # a label in a score's place
        ('{"高兴": 0.6, "愤怒": 0.2', "x", {"happy": 0.6, "angry": 0.2}),  # broken JSON, read loosely
        ("高兴: 0.5, 悲伤:0.25 and 自然 : 0.1", "x", {"happy": 0.5, "sad": 0.25, "calm": 0.1}),
        ("complete garbage", "x", {"calm": 1.0}),  # nothing detected: calm
        ('{"happy": 0.9}', "x", {"calm": 1.0}),  # English keys are not its labels
        ("[1, 2, 3]", "x", {"calm": 1.0}),
        ('{"悲伤": 0.9, "自然": 0.1}', "I feel so gloomy", {"melancholic": 0.9, "calm": 0.1}),  # sad -> melancholic
        ('{"高兴": null, "惊讶": 0.4}', "x", {"surprised": 0.4}),  # the release raises on null
    ],
)
def test_parse_reply(reply, text, expected):
    scores = E.parse_emotion_reply(reply, text)
    assert list(scores) == list(E.EMOTIONS)
    assert scores == {name: expected.get(name, 0.0) for name in E.EMOTIONS}


# ---------------------------------------------------------------------------------------
# the model

@pytest.fixture(scope="module")
def qwen_folder(tmp_path_factory):
    return build_tiny_qwen(tmp_path_factory.mktemp("qwen"))


def test_qwen_prompt_is_the_release_chat(qwen_folder):
    q = E.QwenEmotion.from_folder(qwen_folder)
    ids = q.prompt_ids("I won!")["input_ids"][0].tolist()
    text = q.tokenizer.decode(ids)
    assert text == (
        f"<|im_start|>system\n{E.QWEN_PROMPT}<|im_end|>\n<|im_start|>user\nI won!<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


def test_qwen_random_model_answers_garbage_and_falls_back(qwen_folder):
    q = E.QwenEmotion.from_folder(qwen_folder)
    q.max_new_tokens = 24
    scores = q.scores("What a day!")
    assert list(scores) == list(E.EMOTIONS)
    assert all(0.0 <= v <= 1.2 for v in scores.values()) and max(scores.values()) > 0
    assert q.scores("What a day!") == scores  # greedy: the same line, the same emotion


def test_qwen_reads_the_answer_after_the_thinking_block(qwen_folder, monkeypatch):
    q = E.QwenEmotion.from_folder(qwen_folder)
    answer = json.dumps({"高兴": 0.25, "惊讶": 0.5}, ensure_ascii=False)
    reply_ids = q.tokenizer('<think>\n{"愤怒": 1}</think>\n' + answer)["input_ids"]

    def fake_generate(input_ids, **kwargs):
        return torch.cat([input_ids, torch.tensor([reply_ids])], dim=1)

    monkeypatch.setattr(q.model, "generate", fake_generate)
    assert q.reply("x").strip() == answer
    assert q.scores("x") == {**{n: 0.0 for n in E.EMOTIONS}, "happy": 0.25, "surprised": 0.5}


def test_qwen_missing_folder_names_it(tmp_path):
    with pytest.raises(ModelFileError, match="qwen0.6bemo4-merge"):
        E.QwenEmotion.from_folder(tmp_path / "qwen0.6bemo4-merge")


def test_qwen_missing_weights_fail(qwen_folder, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "q"
    shutil.copytree(qwen_folder, broken)
    state = load_file(str(broken / "model.safetensors"))
    del state["model.layers.0.mlp.up_proj.weight"]
    save_file(state, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match="up_proj"):
        E.QwenEmotion.from_folder(broken)


def test_qwen_full_size_names_and_shapes_match_release():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(  # Qwen3-0.6B, which the release fine-tuned
        vocab_size=151936,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        tie_word_embeddings=True,
    )
    with torch.device("meta"):
        model = Qwen3ForCausalLM(config)
    state = model.state_dict()
    text = "\n".join(f"{k} {list(v.shape)}" for k, v in sorted(state.items()))
    assert len(state) == 311
    # sha256 of the release's "name [shape]" lines (keys/qwen_emo.json), sorted
    assert (
        hashlib.sha256(text.encode()).hexdigest() == "1030b21b110ef52fdc09479f468547d1508683ab0c6faaff6c36763e29f6ea07"
    )
