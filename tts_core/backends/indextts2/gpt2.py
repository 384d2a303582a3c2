"""GPT-2, the transformer of IndexTTS-2's text-to-semantic model (UnifiedVoice, ``gpt.py``),
with the KV cache its decoding grows (``decoding.py``).

The Hugging Face layout, so the checkpoint's ``gpt.*`` keys load unchanged: Conv1D weights
are stored as (in, out). The GPT reads given embeddings: it has no token or position tables
of its own; UnifiedVoice adds text and code positions from its ``LearnedPositions`` tables.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
