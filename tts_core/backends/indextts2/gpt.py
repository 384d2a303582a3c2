"""IndexTTS-2's autoregressive text-to-semantic model (UnifiedVoice v2).

A GPT-2 reads a prompt and writes semantic codes (50 a second) until its stop code:

    prompt = [32 speaker latents + emotion vector | slot | slot | start, text..., stop | start code]

The speaker latents and the emotion vector come from w2v-BERT features through the
Conformer + Perceiver encoders (``conformer.py``); the two slots are the rows of
``speed_emb`` (row 1 then row 0), which the release trained as constants. Text and codes
carry their own learned position tables; the GPT's own position embedding is unused.

``generate`` reproduces the official decoding (transformers' ``generate`` as IndexTTS-2 calls
it: sampling, greedy, beam search and beam sampling, with the same logits processors in the
same order) with a KV cache, plus two options for duration control: ``min_tokens`` and
``force_stop``. ``latents`` is the official teacher-forced forward whose hidden states feed
the S2M stage.

Names and shapes of every parameter equal the official checkpoint's, so ``gpt.pth`` loads
unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelFileError, UnsupportedRequestError
from .conformer import ConformerConfig, ConformerEncoder, PerceiverResampler

# The official prompt feeds `generate` placeholder ids of 1 in front of the start code, and
# transformers' repetition penalty counts them as already generated: code 1 and the start
# code are penalised from the first step on.
_PLACEHOLDER_ID = 1

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


# ---------------------------------------------------------------------------------------------
# GPT-2 (the Hugging Face layout: Conv1D weights stored as (in, out))


class Conv1D(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.addmm(self.bias, x.reshape(-1, x.size(-1)), self.weight)
        return out.view(*x.shape[:-1], -1)


class KVCache:
    """Keys and values of every layer for a batch of sequences that grow together. Buffers
    double when full, so a long generation copies them O(log n) times, not every step."""

    def __init__(self, layers: int):
        self.length = 0
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + k.size(2)
        for store, new in ((self.keys, k), (self.values, v)):
            buf = store[layer]
            if buf is None or buf.size(2) < end:
                capacity = end if buf is None else max(end, 2 * buf.size(2))
                grown = new.new_empty(new.size(0), new.size(1), capacity, new.size(3))
                if buf is not None:
                    grown[:, :, : self.length] = buf[:, :, : self.length]
                store[layer] = buf = grown
            buf[:, :, self.length : end] = new
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        """Row i becomes the old row index[i] (beam search; also expands one row to many)."""
        n = self.length
        for store in (self.keys, self.values):
            for i, buf in enumerate(store):
                if buf.size(0) == index.numel():
                    buf[:, :, :n] = buf[index, :, :n]
                else:
                    new = buf.new_empty(index.numel(), *buf.shape[1:])
                    new[:, :, :n] = buf[index, :, :n]
                    store[i] = new


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(width, 3 * width)
        self.c_proj = Conv1D(width, width)

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        b, t, width = x.shape
        q, k, v = (y.view(b, t, self.heads, -1).transpose(1, 2) for y in self.c_attn(x).split(width, dim=2))
        if cache is not None:
            k, v = cache.append(layer, k, v)
        # Several positions are only ever fed at once from the start of a sequence (the prompt, or a
        # whole teacher-forced pass), so a plain causal mask is right; a single new position sees all.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, width))


class MLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c_fc = Conv1D(width, 4 * width)
        self.c_proj = Conv1D(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width)

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    """GPT-2 over given embeddings (no token or position tables of its own)."""

    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.h = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        for i, block in enumerate(self.h):
            x = block(x, cache, i)
        if cache is not None:
            cache.length += x.size(1)
        return self.ln_f(x)


class LearnedPositions(nn.Module):
    def __init__(self, rows: int, width: int):
        super().__init__()
        self.emb = nn.Embedding(rows, width)

    def forward(self, start: int, count: int, device: torch.device) -> torch.Tensor:
        return self.emb(torch.arange(start, start + count, device=device))


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decoding:
    """The options of one `generate` call, resolved."""

    num_beams: int
    do_sample: bool
    top_k: int | None
    top_p: float | None
    temperature: float | None
    repetition_penalty: float | None
    length_penalty: float
    max_tokens: int
    min_tokens: int
    force_stop: bool


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
        opts = _Decoding(
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
                return self._sample(logits, cache, opts, generator)
            return self._beam_search(logits, cache, opts, generator)

    def _logits(self, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
        hidden = self.gpt(x, cache)
        return self.mel_head(self.final_norm(hidden[:, -1])).float()

    def _next(self, codes: torch.Tensor, n_codes: int, cache: KVCache) -> torch.Tensor:
        """Logits after feeding each row's newest code, the `n_codes`-th. The official
        generation places it at position n_codes + 1 (it counts positions from the attention
        mask, which already includes the new code), one further than the teacher-forced
        forward (`latents`) and training do; the released weights are used that way."""
        return self._logits(self._code_rows(codes.reshape(-1, 1), n_codes + 1), cache)

    def _seen(self, history: torch.Tensor) -> torch.Tensor:
        """Which codes each row has "already generated" for the repetition penalty."""
        c = self.config
        seen = torch.zeros(history.size(0), c.number_mel_codes, dtype=torch.bool, device=history.device)
        seen[:, [_PLACEHOLDER_ID, c.start_mel_token]] = True
        return seen.scatter_(1, history, True)

    def _process(self, scores: torch.Tensor, seen: torch.Tensor, n_codes: int, opts: _Decoding, final=False):
        """transformers' logits processors in its order: repetition penalty, (min length),
        then when sampling temperature, top-k, top-p. Beam search keeps at least two
        candidates a row in top-k/top-p, as transformers does. `final`: the forced stop step,
        which picks no candidates, so top-k/top-p do not apply."""
        stop = self.config.stop_mel_token
        if opts.repetition_penalty is not None and opts.repetition_penalty != 1.0:
            p = opts.repetition_penalty
            scores = torch.where(seen, torch.where(scores < 0, scores * p, scores / p), scores)
        if n_codes < opts.min_tokens:
            scores = scores.clone()
            scores[:, stop] = -math.inf
        if not opts.do_sample:
            return scores
        keep = 2 if opts.num_beams > 1 else 1
        if opts.temperature is not None and opts.temperature != 1.0:
            scores = scores / opts.temperature
        if final:
            return scores
        if opts.top_k:
            k = min(max(opts.top_k, keep), scores.size(-1))
            kth = torch.topk(scores, k).values[..., -1:]
            scores = scores.masked_fill(scores < kth, -math.inf)
        if opts.top_p is not None and opts.top_p < 1.0:
            ordered, order = torch.sort(scores, descending=False)
            drop = ordered.softmax(dim=-1).cumsum(dim=-1) <= 1 - opts.top_p
            drop[..., -keep:] = False
            scores = scores.masked_fill(drop.scatter(1, order, drop), -math.inf)
        return scores

    def _sample(self, logits: torch.Tensor, cache: KVCache, opts: _Decoding, generator) -> torch.Tensor:
        stop = self.config.stop_mel_token
        codes = torch.zeros(1, 0, dtype=torch.long, device=logits.device)
        seen = self._seen(codes)
        for n in range(opts.max_tokens):
            scores = self._process(logits, seen, n, opts)
            if opts.do_sample:
                token = torch.multinomial(F.softmax(scores, dim=-1), 1, generator=generator)
            else:
                token = scores.argmax(dim=-1, keepdim=True)
            if token.item() == stop:
                break
            codes = torch.cat((codes, token), dim=1)
            seen[0, token[0, 0]] = True
            if n + 1 < opts.max_tokens:
                logits = self._next(token, n + 1, cache)
        return codes

    def _beam_search(self, logits: torch.Tensor, cache: KVCache, opts: _Decoding, generator):
        """transformers' beam search (BeamSearchScorer with early_stopping=False), one batch
        row: keep the `num_beams` best running sequences; a stop code ends a hypothesis if it
        ranks within the first `num_beams` candidates; stop once no running beam can beat the
        worst of `num_beams` finished ones (scores are summed log-probabilities over
        length ** length_penalty)."""
        stop = self.config.stop_mel_token
        beams = opts.num_beams
        device = logits.device
        # All beams start as copies of the one prompt; only the first may be extended at first.
        cache.reorder(torch.zeros(beams, dtype=torch.long, device=device))
        logits = logits.expand(beams, -1)
        beam_scores = torch.zeros(beams, device=device)
        beam_scores[1:] = -1e9
        history = torch.zeros(beams, 0, dtype=torch.long, device=device)
        finished = _Hypotheses(beams, opts.length_penalty)
        vocab = logits.size(-1)
        done = False
        for n in range(opts.max_tokens):
            scores = self._process(F.log_softmax(logits, dim=-1), self._seen(history), n, opts)
            totals = (scores + beam_scores[:, None]).view(1, beams * vocab)
            if opts.do_sample:
                picked = torch.multinomial(F.softmax(totals, dim=-1), 2 * beams, generator=generator)
                cand_scores = torch.gather(totals, -1, picked)
                cand_scores, order = torch.sort(cand_scores, descending=True, dim=1)
                picked = torch.gather(picked, -1, order)
            else:
                cand_scores, picked = torch.topk(totals, 2 * beams, dim=1, largest=True, sorted=True)
            cand_scores, picked = cand_scores[0], picked[0]
            rows, tokens = picked // vocab, picked % vocab

            keep_rows, keep_tokens, keep_scores = [], [], []
            for rank in range(2 * beams):
                row, token = int(rows[rank]), int(tokens[rank])
                if token == stop:
                    if rank < beams:
                        finished.add(history[row].clone(), float(cand_scores[rank]), n + 1)
                    continue
                keep_rows.append(row)
                keep_tokens.append(token)
                keep_scores.append(cand_scores[rank])
                if len(keep_rows) == beams:
                    break
            done = finished.is_done(float(cand_scores.max()), n + 1)
            index = torch.tensor(keep_rows, device=device)
            new_tokens = torch.tensor(keep_tokens, device=device)
            history = torch.cat((history[index], new_tokens[:, None]), dim=1)
            beam_scores = torch.stack(keep_scores)
            if done:
                break
            if n + 1 < opts.max_tokens or opts.force_stop:
                cache.reorder(index)
                logits = self._next(new_tokens, n + 1, cache)

        if not done:
            n = history.size(1)
            if opts.force_stop:
                scores = self._process(F.log_softmax(logits, dim=-1), self._seen(history), n, opts, True)
                for row in range(beams):
                    finished.add(history[row].clone(), float(beam_scores[row] + scores[row, stop]), n + 1)
            else:
                for row in range(beams):
                    finished.add(history[row].clone(), float(beam_scores[row]), n)
        return finished.best().reshape(1, -1)


class _Hypotheses:
    """The `size` best finished sequences (transformers' BeamHypotheses)."""

    def __init__(self, size: int, length_penalty: float):
        self.size = size
        self.length_penalty = length_penalty
        self.items: list[tuple[float, torch.Tensor]] = []
        self.worst = 1e9

    def add(self, codes: torch.Tensor, total: float, length: int) -> None:
        score = total / (length**self.length_penalty)
        if len(self.items) < self.size or score > self.worst:
            self.items.append((score, codes))
            if len(self.items) > self.size:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.items))
                del self.items[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_running: float, length: int) -> bool:
        if len(self.items) < self.size:
            return False
        return self.worst >= best_running / (length**self.length_penalty)

    def best(self) -> torch.Tensor:
        # sorted() is stable and the last of equal scores wins, as in transformers.
        return sorted(self.items, key=lambda item: item[0])[-1][1]


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
