"""A tiny random IndexTTS-2 release, written in the official file formats and layout.

Every component is the real architecture at a few layers and small widths (only what the
rest of the pipeline fixes stays: 80 mel bins, hop 256 at 22,050 Hz, CAMPPlus's 192-wide
style). The folder loads through the backend's real loader, so a test runs the whole
path: reference clip -> w2v-BERT -> codec -> GPT -> length regulator -> flow -> vocoder.
The GPT's stop code is made unlikely, so a line is ``MAX_CODES`` codes at its own pace.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

FRAMES_PER_CODE = 1.72  # mel frames per semantic code, as the release renders them
MAX_CODES = 40  # the tiny GPT's longest line (0.8 s): random weights never choose to stop
CODEBOOK = 32  # semantic codes (the GPT adds start and stop)
FEATURES = 32  # w2v-BERT width
EMO_NUM = [1, 2, 1, 1, 1, 1, 1, 2]
MODEL_DIM = 64

TRAINING_TEXT = [
    "HELLO WORLD. HOW ARE YOU? FINE, THANKS!",
    "EVERY LINE IS SPOKEN TO THE LENGTH OF ITS SLOT.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
    "SHE SELLS SEA SHELLS BY THE SEA SHORE, DOESN'T SHE?",
    "你好，世界。今天天气很好。",
]

CONFIG = {
    "dataset": {"bpe_model": "bpe.model", "sample_rate": 24000, "squeeze": False},
    "gpt": {
        "model_dim": MODEL_DIM, "max_mel_tokens": MAX_CODES, "max_text_tokens": 120, "heads": 4,
        "use_mel_codes_as_input": True, "mel_length_compression": 1024, "layers": 2,
        "number_text_tokens": 300, "number_mel_codes": CODEBOOK + 2, "start_mel_token": CODEBOOK,
        "stop_mel_token": CODEBOOK + 1, "start_text_token": 0, "stop_text_token": 1,
        "train_solo_embeddings": False, "condition_type": "conformer_perceiver",
        "condition_num_latent": 4, "feature_dim": FEATURES, "emotion_dim": 48,
        "condition_module": {"output_size": 32, "linear_units": 64, "attention_heads": 2, "num_blocks": 1,
                             "input_layer": "conv2d2", "perceiver_mult": 2},
        "emo_condition_module": {"output_size": 32, "linear_units": 48, "attention_heads": 2, "num_blocks": 1,
                                 "input_layer": "conv2d2", "perceiver_mult": 2},
    },
    "semantic_codec": {"codebook_size": CODEBOOK, "hidden_size": FEATURES, "codebook_dim": 4, "vocos_dim": 16,
                       "vocos_intermediate_dim": 32, "vocos_num_layers": 1},
    "s2mel": {
        "preprocess_params": {"sr": 22050, "spect_params": {"n_fft": 1024, "win_length": 1024, "hop_length": 256,
                                                            "n_mels": 80, "fmin": 0, "fmax": "None"}},
        "dit_type": "DiT", "reg_loss_type": "l1", "style_encoder": {"dim": 192},
        "length_regulator": {"channels": 32, "is_discrete": False, "in_channels": FEATURES,
                             "content_codebook_size": 16, "sampling_ratios": [1, 1], "vector_quantize": False,
                             "n_codebooks": 1, "quantizer_dropout": 0.0, "f0_condition": False, "n_f0_bins": 512},
        "DiT": {"hidden_dim": 32, "num_heads": 2, "depth": 2, "class_dropout_prob": 0.1, "block_size": 8192,
                "in_channels": 80, "style_condition": True, "final_layer_type": "wavenet", "target": "mel",
                "content_dim": 32, "content_codebook_size": 16, "content_type": "discrete", "f0_condition": False,
                "n_f0_bins": 512, "content_codebooks": 1, "is_causal": False, "long_skip_connection": True,
                "zero_prompt_speech_token": False, "time_as_token": False, "style_as_token": False,
                "uvit_skip_connection": True, "add_resblock_in_transformer": False},
        "wavenet": {"hidden_dim": 32, "num_layers": 2, "kernel_size": 5, "dilation_rate": 1, "p_dropout": 0.2,
                    "style_condition": True},
    },
    "gpt_checkpoint": "gpt.pth", "w2v_stat": "wav2vec2bert_stats.pt", "s2mel_checkpoint": "s2mel.pth",
    "emo_matrix": "feat2.pt", "spk_matrix": "feat1.pt", "emo_num": EMO_NUM,
    "qwen_emo_path": "qwen0.6bemo4-merge/",
    "vocoder": {"type": "bigvgan", "name": "nvidia/bigvgan_v2_22khz_80band_256x"},
    "version": 2.0,
}  # fmt: skip

BIGVGAN = {
    "resblock": "1", "num_gpus": 0, "batch_size": 1, "learning_rate": 0.0001, "adam_b1": 0.8, "adam_b2": 0.99,
    "lr_decay": 0.9999996, "seed": 1234, "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8],
    "upsample_initial_channel": 32, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]],
    "use_tanh_at_final": False, "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True,
    "use_cqtx_disc": True, "segment_size": 65536, "num_mels": 80, "num_freq": 1025, "n_fft": 1024,
    "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": None, "fmax_for_loss": None,
}  # fmt: skip


def _randomise(module, generator, scale: float = 0.3) -> dict:
    """Every float tensor drawn at random (norm gains around 1), as a state dict."""
    import torch

    state = {}
    for name, tensor in module.state_dict().items():
        if not tensor.is_floating_point() or name.endswith(".pe") or "running_" in name:
            state[name] = tensor.clone()
            continue
        gain = name.endswith(("gamma", "weight_g")) or (name.endswith("weight") and "norm" in name)
        state[name] = float(gain) + scale * torch.randn(tensor.shape, generator=generator)
    return state


def build_tiny_release(folder: Path, seed: int = 0, qwen: bool = True) -> Path:
    """Write the folder (with the text-to-emotion model when ``qwen``) and return it."""
    import sentencepiece as spm
    import torch
    from safetensors.torch import save_file
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    from tts_core.backends.indextts2 import bigvgan, campplus, gpt, s2mel, semantic

    folder = Path(folder)
    aux = folder / "hf_cache"
    (aux / "bigvgan").mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG, allow_unicode=True), encoding="utf-8")

    (folder / "train.txt").write_text("\n".join(TRAINING_TEXT * 4), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(folder / "train.txt"), model_prefix=str(folder / "bpe"),
                                   vocab_size=120, model_type="bpe", character_coverage=1.0, bos_id=0, eos_id=1,
                                   unk_id=2, pad_id=-1, minloglevel=2)
    (folder / "train.txt").unlink()
    (folder / "bpe.vocab").unlink()

    config = gpt.GPTConfig.from_dict(CONFIG["gpt"])
    state = _randomise(gpt.UnifiedVoice(config), g)
    state["mel_head.bias"][config.stop_mel_token] -= 30.0  # never stops by itself
    torch.save({"model": state}, folder / "gpt.pth")

    config = s2mel.S2MelConfig.from_dict(CONFIG["s2mel"])
    model = s2mel.S2Mel(config.__class__(**{**config.__dict__, "gpt_dim": MODEL_DIM}))
    state = _randomise(model, g, scale=0.1)
    net = {part: {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(part + ".")}
           for part in ("cfm", "length_regulator", "gpt_layer")}
    torch.save({"net": net}, folder / "s2mel.pth")

    torch.save({"mean": torch.randn(FEATURES, generator=g) * 0.1, "var": torch.rand(FEATURES, generator=g) + 0.5},
               folder / "wav2vec2bert_stats.pt")
    total = sum(EMO_NUM)
    torch.save(torch.randn(total, 192, generator=g), folder / "feat1.pt")
    torch.save(torch.randn(total, MODEL_DIM, generator=g), folder / "feat2.pt")

    w2v = Wav2Vec2BertModel(Wav2Vec2BertConfig(
        hidden_size=FEATURES, num_hidden_layers=semantic.W2V_LAYER, num_attention_heads=2, intermediate_size=64,
        output_hidden_size=FEATURES, conv_depthwise_kernel_size=3, add_adapter=False))
    w2v.save_pretrained(aux / "w2v-bert-2.0")
    SeamlessM4TFeatureExtractor(feature_size=80, num_mel_bins=80, sampling_rate=16000, stride=2, padding_value=1.0,
                                return_attention_mask=True).save_pretrained(aux / "w2v-bert-2.0")

    codec = semantic.SemanticCodec(semantic.SemanticCodecConfig.from_dict(CONFIG["semantic_codec"]))
    save_file({k: v.contiguous() for k, v in _randomise(codec, g).items()}, str(aux / "semantic_codec_model.safetensors"))

    torch.save(campplus.CAMPPlus(campplus.CAMPPlusConfig()).state_dict(), aux / "campplus_cn_common.bin")

    (aux / "bigvgan" / "config.json").write_text(json.dumps(BIGVGAN))
    vocoder = bigvgan.BigVGAN(bigvgan.BigVGANConfig.from_dict(BIGVGAN))
    torch.save({"generator": _randomise(vocoder, g, scale=0.1)}, aux / "bigvgan" / "bigvgan_generator.pt")
    if qwen:
        build_tiny_qwen(folder / CONFIG["qwen_emo_path"])
    return folder


# Qwen's chat format, as the release's emotion model's tokenizer renders it.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]


def build_tiny_qwen(folder: Path) -> Path:
    """A byte-level BPE tokenizer with Qwen's chat markers and a 1-layer random Qwen3, in
    the layout of the release's qwen0.6bemo4-merge/ (its answers are noise)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    from tts_core.backends.indextts2.emotion import QWEN_PROMPT

    folder = Path(folder)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ['{"高兴": 0.5, "悲伤": 0.1, "自然": 0.2}', QWEN_PROMPT, "hello world, what a day"]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    config = Qwen3Config(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=fast.eos_token_id)
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(folder)
    return folder


def voice_clip(path: Path, seconds: float = 2.0, rate: int = 22050, pitch: float = 140.0) -> Path:
    """A voiced-sounding reference: a gliding harmonic tone with a little noise, as WAV."""
    import soundfile as sf

    t = np.arange(int(rate * seconds)) / rate
    f0 = pitch + 20 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    wave = 0.3 * wave / np.abs(wave).max() + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(str(path), wave.astype(np.float32), rate)
    return path
