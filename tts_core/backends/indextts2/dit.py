"""The flow-matching estimator of IndexTTS-2's S2M stage: a diffusion transformer (DiT)
followed by a WaveNet head, predicting the velocity of mel frames at time t.

Module and parameter names follow the official checkpoint (``cfm.estimator.*`` of
s2mel.pth), including a few tables the released inference never reads; they are kept so
the file loads strictly. Every row of a batch has the same length: the released inference
never pads, so there is no attention mask.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from .s2mel import S2MelConfig

ROPE_BASE = 10000.0
TIME_FREQUENCIES = 256  # sinusoidal features of t before its MLP
TIME_SCALE = 1000.0  # t in [0, 1] is embedded as if it were a step index in [0, 1000]


class WeightNormLinear(nn.Module):
    """A linear layer stored as direction ``weight_v`` and per-row gain ``weight_g``
    (the layout ``torch.nn.utils.weight_norm`` saves)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(n_out, 1))
        self.weight_v = nn.Parameter(torch.randn(n_out, n_in) / math.sqrt(n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, _folded(self), self.bias)


class WeightNormConv1d(nn.Module):
    """A 1-d convolution stored as ``weight_v`` / ``weight_g``, padded by reflection
    around each end (so the edges see mirrored frames rather than zeros)."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(n_out, 1, 1))
        self.weight_v = nn.Parameter(torch.randn(n_out, n_in, kernel_size) / math.sqrt(n_in * kernel_size))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.dilation = dilation
        self.padding = (kernel_size - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        right = self.padding // 2
        x = _reflect_pad(x, self.padding - right, right)
        return F.conv1d(x, _folded(self), self.bias, dilation=self.dilation)


def _folded(layer: nn.Module) -> Tensor:
    """The layer's weight from its direction and gain, computed once for inference (every
    flow step calls each layer twice) and again while training or after a move."""
    v, g = layer.weight_v, layer.weight_g
    if layer.training or torch.is_grad_enabled():
        return _weight_norm(v, g)
    stamp = (id(v), id(g), v._version, g._version, v.device, v.dtype)  # changed weights, or moved
    cached = getattr(layer, "_weight", None)
    if cached is None or cached[0] != stamp:
        layer._weight = cached = (stamp, _weight_norm(v, g))
    return cached[1]


def _weight_norm(v: Tensor, g: Tensor) -> Tensor:
    norm = torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())), keepdim=True)
    return v * (g / norm)


def _reflect_pad(x: Tensor, left: int, right: int) -> Tensor:
    # Reflection needs more frames than the pad; a shorter input is zero-extended first
    # and the extension cut off again, as the official wrapper does.
    short = max(left, right) - x.shape[-1] + 1
    if short <= 0:
        return F.pad(x, (left, right), mode="reflect")
    x = F.pad(F.pad(x, (0, short)), (left, right), mode="reflect")
    return x[..., : x.shape[-1] - short]


class NestedConv(nn.Module):
    """The official convolution sits two wrappers deep (``conv.conv.weight_v``)."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.ModuleDict({"conv": WeightNormConv1d(n_in, n_out, kernel_size, dilation)})

    def forward(self, x: Tensor) -> Tensor:
        return self.conv["conv"](x)


class TimestepEmbedder(nn.Module):
    """Flow time t in [0, 1] -> a vector: cosines and sines at geometric frequencies, then
    an MLP. The frequency table is saved in the checkpoint."""

    def __init__(self, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(TIME_FREQUENCIES, dim), nn.SiLU(), nn.Linear(dim, dim))
        half = TIME_FREQUENCIES // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs)

    def forward(self, t: Tensor) -> Tensor:
        angles = TIME_SCALE * t[:, None].float() * self.freqs[None]
        features = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        return self.mlp(features.to(self.mlp[0].weight.dtype))  # a half-precision model


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()  # the mean square overflows in half precision
        xf = xf * torch.rsqrt(torch.mean(xf * xf, dim=-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


class AdaptiveRMSNorm(nn.Module):
    """RMS norm whose gain and bias come from the time embedding."""

    def __init__(self, dim: int):
        super().__init__()
        self.project_layer = nn.Linear(dim, 2 * dim)
        self.norm = RMSNorm(dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        gain, bias = self.project_layer(c).chunk(2, dim=-1)
        return gain * self.norm(x) + bias


def rope_table(positions: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
    """Cosines and sines of the rotary angles, (T, head_dim / 2), in float32."""
    inv_freq = 1.0 / (ROPE_BASE ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim))
    angles = torch.outer(positions.float(), inv_freq)
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate adjacent pairs (x[2i], x[2i+1]) of each head; x is (B, T, heads, head_dim)."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[None, :, None], sin[None, :, None]
    rotated = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return rotated.flatten(3).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.wqkv = nn.Linear(dim, 3 * dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.wqkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).unbind(2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.wo(y.transpose(1, 2).reshape(B, T, D))


class FeedForward(nn.Module):
    """SwiGLU; the hidden width is 8/3 of the model width rounded up to a multiple of 256."""

    def __init__(self, dim: int):
        super().__init__()
        hidden = -(-int(8 * dim / 3) // 256) * 256
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int):
        super().__init__()
        self.attention = Attention(dim, n_heads)
        self.feed_forward = FeedForward(dim)
        self.ffn_norm = AdaptiveRMSNorm(dim)
        self.attention_norm = AdaptiveRMSNorm(dim)
        # Every block has one; only the second half's blocks receive a skip.
        self.skip_in_linear = nn.Linear(2 * dim, dim)

    def forward(self, x: Tensor, c: Tensor, cos: Tensor, sin: Tensor, skip: Tensor | None) -> Tensor:
        if skip is not None:
            x = self.skip_in_linear(torch.cat([x, skip], dim=-1))
        h = x + self.attention(self.attention_norm(x, c), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h, c))


class Transformer(nn.Module):
    """Non-causal transformer with U-ViT skips: the outputs of the blocks before the
    middle one feed, last first, the blocks after it."""

    def __init__(self, dim: int, n_heads: int, depth: int):
        super().__init__()
        self.head_dim = dim // n_heads
        self.layers = nn.ModuleList(Block(dim, n_heads) for _ in range(depth))
        self.norm = AdaptiveRMSNorm(dim)

    def forward(self, x: Tensor, c: Tensor, positions: Tensor) -> Tensor:
        cos, sin = rope_table(positions, self.head_dim)
        middle = len(self.layers) // 2
        skips: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            x = layer(x, c, cos, sin, skips.pop() if i > middle else None)
            if i < middle:
                skips.append(x)
        return self.norm(x, c)


class WaveNet(nn.Module):
    """Gated dilated convolutions conditioned on the time embedding, summing their skips."""

    def __init__(self, dim: int, n_layers: int, kernel_size: int, dilation_rate: int):
        super().__init__()
        self.dim = dim
        self.cond_layer = NestedConv(dim, 2 * dim * n_layers)
        self.in_layers = nn.ModuleList(
            NestedConv(dim, 2 * dim, kernel_size, dilation_rate**i) for i in range(n_layers)
        )
        # The last layer only feeds the skip sum, so it has no residual half.
        self.res_skip_layers = nn.ModuleList(
            NestedConv(dim, 2 * dim if i < n_layers - 1 else dim) for i in range(n_layers)
        )

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        g = self.cond_layer(g)
        out = torch.zeros_like(x)
        last = len(self.in_layers) - 1
        for i, (conv, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            a = conv(x) + g[:, 2 * i * self.dim : 2 * (i + 1) * self.dim]
            acts = res_skip(torch.tanh(a[:, : self.dim]) * torch.sigmoid(a[:, self.dim :]))
            if i < last:
                x = x + acts[:, : self.dim]
                out = out + acts[:, self.dim :]
            else:
                out = out + acts
        return out


class FinalLayer(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.linear = WeightNormLinear(dim, dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        x = F.layer_norm(x, x.shape[-1:], eps=1e-6)
        return self.linear(x * (1 + scale[:, None]) + shift[:, None])


class DiT(nn.Module):
    """Velocity of the noisy mel ``x`` given the prompt mel, the content condition, the
    speaker style and the flow time."""

    def __init__(self, config: S2MelConfig):
        super().__init__()
        dim, n_mels = config.hidden_dim, config.n_mels
        self.transformer = Transformer(dim, config.num_heads, config.depth)
        self.x_embedder = WeightNormLinear(n_mels, dim)  # saved but unused by inference
        self.cond_embedder = nn.Embedding(config.content_codebook_size, dim)  # unused (discrete content)
        self.cond_projection = nn.Linear(config.content_dim, dim)
        self.t_embedder = TimestepEmbedder(dim)
        # Rotary positions run up to this table's length: the longest prompt + output.
        self.register_buffer("input_pos", torch.arange(config.max_frames))
        self.t_embedder2 = TimestepEmbedder(dim)
        self.conv1 = nn.Linear(dim, dim)
        self.conv2 = nn.Conv1d(dim, n_mels, 1)
        self.wavenet = WaveNet(dim, config.wavenet_layers, config.wavenet_kernel_size, config.wavenet_dilation_rate)
        self.final_layer = FinalLayer(dim)
        self.res_projection = nn.Linear(dim, dim)
        self.content_mask_embedder = nn.Embedding(1, dim)  # unused
        self.skip_linear = nn.Linear(dim + n_mels, dim)
        self.cond_x_merge_linear = nn.Linear(dim + 2 * n_mels + config.style_dim, dim)

    def forward(self, x: Tensor, prompt_x: Tensor, t: Tensor, style: Tensor, cond: Tensor) -> Tensor:
        """x, prompt_x: (B, n_mels, T); t: (B,); style: (B, style_dim);
        cond: (B, T, content_dim). Returns (B, n_mels, T)."""
        T = x.shape[-1]
        t1 = self.t_embedder(t)
        x = x.transpose(1, 2)
        merged = torch.cat(
            [x, prompt_x.transpose(1, 2), self.cond_projection(cond), style[:, None].expand(-1, T, -1)], dim=-1
        )
        h = self.transformer(self.cond_x_merge_linear(merged), t1[:, None], self.input_pos[:T])
        h = self.skip_linear(torch.cat([h, x], dim=-1))  # long skip from the noisy input
        y = self.wavenet(self.conv1(h).transpose(1, 2), self.t_embedder2(t)[:, :, None])
        y = self.final_layer(y.transpose(1, 2) + self.res_projection(h), t1)
        return self.conv2(y.transpose(1, 2))
