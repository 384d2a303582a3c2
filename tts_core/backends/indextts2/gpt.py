"""IndexTTS-2's autoregressive text-to-semantic model (UnifiedVoice v2).

A GPT-2 (``gpt2.py``) reads a prompt and writes semantic codes (50 a second) until its stop
code:

    prompt = [32 speaker latents + emotion vector | slot | slot | start, text..., stop | start code]

The speaker latents and the emotion vector come from w2v-BERT features through the
Conformer + Perceiver encoders (``conformer.py``); the two slots are the rows of
``speed_emb`` (row 1 then row 0), which the release trained as constants. Text and codes
carry their own learned position tables; the GPT's own position embedding is unused.

``generate`` reproduces the official decoding (transformers' ``generate`` as IndexTTS-2 calls
it: sampling, greedy, beam search and beam sampling, with the same logits processors in the
same order; ``decoding.py``) with a KV cache, plus two options for duration control:
``min_tokens`` and ``force_stop``. ``latents`` is the official teacher-forced forward whose
hidden states feed the S2M stage. This module holds the model, its config and the loading
of ``gpt.pth``.

Names and shapes of every parameter equal the official checkpoint's, so ``gpt.pth`` loads
unchanged.
"""

from __future__ import annotations

import dataclasses
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelFileError, UnsupportedRequestError
from . import decoding
from .conformer import ConformerConfig, ConformerEncoder, PerceiverResampler
from .gpt2 import GPT2, KVCache, LearnedPositions

# Keys of the config section that describe the training setup: only the release's values
# are implemented.
_FIXED_KEYS = {
    "use_mel_codes_as_input": True,
    "train_solo_embeddings": False,
    "condition_type": "conformer_perceiver",
}
_UNUSED_KEYS = ("mel_length_compression",)


@dataclass(frozen=True)
class GPTConfig:
    """The ``gpt:`` section of IndexTTS-2's config.yaml (defaults: the release)."""

    model_dim: int = 1280
    layers: int = 24
    heads: int = 20
    max_mel_tokens: int = 1815  # sizes the code position table (max_mel_tokens + 3 rows)
    max_text_tokens: int = 600  # sizes the text position table (max_text_tokens + 2 rows)
    number_text_tokens: int = 12000  # BPE vocabulary; the embedding has one row more
    number_mel_codes: int = 8194  # 8192 semantic codes + start + stop
    start_mel_token: int = 8192
    stop_mel_token: int = 8193
    start_text_token: int = 0
    stop_text_token: int = 1
    condition_num_latent: int = 32  # speaker latents in the prompt
    condition_module: ConformerConfig = ConformerConfig()
    emo_condition_module: ConformerConfig = ConformerConfig(
        linear_units=1024, attention_heads=4, num_blocks=4
    )
    feature_dim: int = 1024  # width of the w2v-BERT features both encoders read
    emotion_dim: int = 1024  # width of the emotion Perceiver (fixed in the official code)

    @classmethod
    def from_dict(cls, section: Mapping) -> GPTConfig:
        """Build from the parsed ``gpt:`` section of config.yaml."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values: dict = {}
        for key, value in section.items():
            if key in _FIXED_KEYS:
                if value != _FIXED_KEYS[key]:
                    raise ModelFileError(f"unsupported IndexTTS-2 gpt config: {key}={value!r}")
            elif key in ("condition_module", "emo_condition_module"):
                try:
                    values[key] = ConformerConfig(**dict(value))
                except TypeError as exc:
                    raise ModelFileError(f"unsupported IndexTTS-2 gpt config {key}: {exc}") from None
                layer = values[key].input_layer
                if layer != "conv2d2":
                    raise ModelFileError(f"unsupported IndexTTS-2 gpt config: {key}.input_layer={layer!r}")
            elif key in fields:
                values[key] = value
            elif key not in _UNUSED_KEYS:
                raise ModelFileError(f"unknown key in IndexTTS-2 gpt config: {key!r}")
        return cls(**values)


class UnifiedVoice(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        c = config
        self.config = c
        width = c.model_dim
        spk, emo = c.condition_module, c.emo_condition_module
        self.conditioning_encoder = ConformerEncoder(c.feature_dim, spk)
        self.perceiver_encoder = PerceiverResampler(
            width, spk.output_size, c.condition_num_latent, spk.attention_heads, spk.perceiver_mult
        )
        self.speed_emb = nn.Embedding(2, width)
        self.emo_conditioning_encoder = ConformerEncoder(c.feature_dim, emo)
        self.emo_perceiver_encoder = PerceiverResampler(
            c.emotion_dim, emo.output_size, 1, emo.attention_heads, emo.perceiver_mult
        )
        self.text_embedding = nn.Embedding(c.number_text_tokens + 1, width)
        self.emo_layer = nn.Linear(width, width)
        self.emovec_layer = nn.Linear(c.emotion_dim, width)
        self.mel_embedding = nn.Embedding(c.number_mel_codes, width)
        self.gpt = GPT2(width, c.layers, c.heads)
        self.mel_pos_embedding = LearnedPositions(c.max_mel_tokens + 3, width)
        self.text_pos_embedding = LearnedPositions(c.max_text_tokens + 2, width)
        self.final_norm = nn.LayerNorm(width)
        self.text_head = nn.Linear(width, c.number_text_tokens + 1)  # training only; kept to load strictly
        self.mel_head = nn.Linear(width, c.number_mel_codes)

    # -- conditioning ----------------------------------------------------------------------

    def speaker_conditioning(self, features: torch.Tensor) -> torch.Tensor:
        """w2v-BERT features (1, T, 1024) of the speaker prompt -> (1, 32, model_dim) latents."""
        with torch.no_grad():
            return self.perceiver_encoder(self.conditioning_encoder(features))

    def emotion_vector(self, features: torch.Tensor) -> torch.Tensor:
        """w2v-BERT features (1, T, 1024) of an emotion prompt -> (1, model_dim)."""
        with torch.no_grad():
            pooled = self.emo_perceiver_encoder(self.emo_conditioning_encoder(features)).squeeze(1)
            return self.emo_layer(self.emovec_layer(pooled))

    def merge_emovec(self, spk_features: torch.Tensor, emo_features: torch.Tensor, alpha: float = 1.0):
        """The speaker's own emotion moved toward the emotion prompt's by `alpha` (0: the
        speaker's, 1: the prompt's)."""
        emo = self.emotion_vector(emo_features)
        base = self.emotion_vector(spk_features)
        return base + alpha * (emo - base)

    # -- prompt ------------------------------------------------------------------------------

    @property
    def max_codes(self) -> int:
        """The most codes the code position table can place (generation and `latents`)."""
        return self.mel_pos_embedding.emb.num_embeddings - 2

    def _prompt(self, cond: torch.Tensor, emovec: torch.Tensor, text_ids: torch.Tensor, codes: torch.Tensor):
        """[latents + emotion | speed_emb[1] | speed_emb[0] | start, text, stop | codes], the
        codes at positions 0, 1, ..."""
        c = self.config
        b = cond.size(0)
        slots = self.speed_emb.weight
        text = F.pad(F.pad(text_ids, (1, 0), value=c.start_text_token), (0, 1), value=c.stop_text_token)
        rows = (
            cond + emovec.unsqueeze(1),
            slots[1].expand(b, 1, -1),
            slots[0].expand(b, 1, -1),
            self.text_embedding(text) + self.text_pos_embedding(0, text.size(1), text.device),
            self._code_rows(codes, 0),
        )
        return torch.cat(rows, dim=1)

    def _code_rows(self, codes: torch.Tensor, start: int) -> torch.Tensor:
        return self.mel_embedding(codes) + self.mel_pos_embedding(start, codes.size(1), codes.device)

    def _text_ids(self, text_ids: torch.Tensor | Sequence[int], device: torch.device) -> torch.Tensor:
        ids = torch.as_tensor(text_ids, dtype=torch.long, device=device).reshape(1, -1)
        limit = self.config.max_text_tokens
        if ids.size(1) > limit:
            raise UnsupportedRequestError(f"text too long: {ids.size(1)} tokens (IndexTTS-2 takes {limit})")
        return ids

    # -- teacher-forced forward ------------------------------------------------------------------

    def latents(self, cond: torch.Tensor, text_ids, codes, emovec: torch.Tensor) -> torch.Tensor:
        """The GPT's last hidden states (after the final norm) at the positions that read
        [start, codes[:-1]]: (1, n_codes, model_dim), what the S2M stage's gpt_layer reads.
        `codes`: (1, n) or (n,) without the stop code."""
        c = self.config
        with torch.no_grad():
            text_ids = self._text_ids(text_ids, cond.device)
            codes = torch.as_tensor(codes, dtype=torch.long, device=cond.device).reshape(1, -1)
            if codes.size(1) > self.max_codes:
                raise UnsupportedRequestError(f"too many codes: {codes.size(1)} (at most {self.max_codes})")
            mel = F.pad(F.pad(codes, (1, 0), value=c.start_mel_token), (0, 1), value=c.stop_mel_token)
            hidden = self.gpt(self._prompt(cond, emovec, text_ids, mel))
            # The official forward also scores the stop code and the one after it; both are dropped.
            return self.final_norm(hidden[:, -mel.size(1) : -2])

    # -- generation ------------------------------------------------------------------------------

    def generate(
        self,
        cond: torch.Tensor,
        text_ids,
        emovec: torch.Tensor,
        *,
        num_beams: int = 3,
        do_sample: bool = True,
        top_k: int | None = 30,
        top_p: float | None = 0.8,
        temperature: float | None = 0.8,
        repetition_penalty: float | None = 10.0,
        length_penalty: float = 0.0,
        max_tokens: int = 1500,
        min_tokens: int | None = None,
        force_stop: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Semantic codes for `text_ids` in the voice of `cond` (speaker latents) and the
        emotion `emovec`: (1, n) long, without the stop code.

        Defaults are the official inference's. With num_beams=1 this is sampling (greedy when
        do_sample=False or top_k=1); with more beams it is beam search (beam sampling when
        do_sample). At most `max_tokens` codes, as officially (the output then has no stop).
        New options: `min_tokens` forbids the stop code before that many codes; `force_stop`
        makes beam search end every beam still running at `max_tokens` with the stop code and
        rank it by that code's probability too (officially a capped beam ends for free).
        `generator` drives the sampling (default: torch's global generator, as officially).
        """
        c = self.config
        if num_beams < 1:
            raise ValueError("num_beams must be at least 1")
        if not 1 <= max_tokens <= self.max_codes:
            raise UnsupportedRequestError(f"max_tokens must be from 1 to {self.max_codes}, not {max_tokens}")
        if min_tokens is not None and min_tokens > max_tokens:
            raise UnsupportedRequestError(f"min_tokens ({min_tokens}) exceeds max_tokens ({max_tokens})")
        opts = decoding.Decoding(
            num_beams, do_sample, top_k, top_p, temperature, repetition_penalty,
            length_penalty, max_tokens, min_tokens or 0, force_stop,
        )  # fmt: skip
        with torch.no_grad():
            text_ids = self._text_ids(text_ids, cond.device)
            # The official prompt drops start/stop ids found inside the text (not so `latents`).
            markers = (text_ids == c.start_text_token) | (text_ids == c.stop_text_token)
            start = torch.full((1, 1), c.start_mel_token, dtype=torch.long, device=cond.device)
            cache = KVCache(len(self.gpt.h))
            logits = self._logits(self._prompt(cond, emovec, text_ids[~markers].reshape(1, -1), start), cache)
            if num_beams == 1:
                return decoding.sample(self, logits, cache, opts, generator)
            return decoding.beam_search(self, logits, cache, opts, generator)

    def _logits(self, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
        hidden = self.gpt(x, cache)
        return self.mel_head(self.final_norm(hidden[:, -1])).float()

    def next_logits(self, codes: torch.Tensor, n_codes: int, cache: KVCache) -> torch.Tensor:
        """Logits after feeding each row's newest code, the `n_codes`-th. The official
        generation places it at position n_codes + 1 (it counts positions from the attention
        mask, which already includes the new code), one further than the teacher-forced
        forward (`latents`) and training do; the released weights are used that way."""
        return self._logits(self._code_rows(codes.reshape(-1, 1), n_codes + 1), cache)


# The official inference's calls, from the speaker prompt's w2v-BERT features (its
# `inference_speech` and forward encode the speaker themselves).


def merge_emovec(model: UnifiedVoice, spk_features: torch.Tensor, emo_features: torch.Tensor, alpha=1.0):
    return model.merge_emovec(spk_features, emo_features, alpha)


def generate(model: UnifiedVoice, spk_features: torch.Tensor, text_ids, emovec: torch.Tensor, **options):
    """`UnifiedVoice.generate` with the speaker latents computed from `spk_features`."""
    return model.generate(model.speaker_conditioning(spk_features), text_ids, emovec, **options)


def latents(model: UnifiedVoice, spk_features: torch.Tensor, text_ids, codes, emovec: torch.Tensor):
    """`UnifiedVoice.latents` with the speaker latents computed from `spk_features`."""
    return model.latents(model.speaker_conditioning(spk_features), text_ids, codes, emovec)


def load_gpt(path: str | Path, config: GPTConfig, device: str | torch.device = "cpu") -> UnifiedVoice:
    """The official ``gpt.pth`` (a state dict, or one wrapped in ``{'model': ...}``) in a
    UnifiedVoice built from `config`, in eval mode. Every key must match: a missing,
    unexpected or mis-shaped one raises ModelFileError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"IndexTTS-2 GPT checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as exc:
        reason = exc.__class__.__name__
        raise ModelFileError(f"{path} is not a readable PyTorch checkpoint ({reason})") from None
    if isinstance(state, Mapping) and "model" in state:
        state = state["model"]
    if not isinstance(state, Mapping):
        raise ModelFileError(f"{path} holds no state dict")
    with torch.device("meta"):
        model = UnifiedVoice(config)
    _check_keys(model, state, path)
    # The official model copies the weights into float32 parameters; do the same.
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device).eval()


def _check_keys(model: nn.Module, state: Mapping, path: Path) -> None:
    expected = model.state_dict()
    problems = []
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path} holds values that are not tensors")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
            problems.append(f"{label}: {', '.join(keys[:5])}{more}")
    if problems:
        raise ModelFileError(f"{path} does not match the IndexTTS-2 GPT config: " + "; ".join(problems))
