"""The two conditioning encoders of IndexTTS-2's GPT: a Conformer over w2v-BERT features,
then a Perceiver that pools them into a fixed number of latents.

The speaker branch yields 32 latents that open the GPT's prompt; the emotion branch yields
one latent that becomes the emotion vector. Module and parameter names follow the official
checkpoint (a WeNet-style Conformer, lucidrains' Perceiver resampler).

Both encoders see one unpadded utterance at a time, as the official inference feeds them,
so there are no padding masks. (The official call gives the feature width, 1024, as the
length, which masks nothing for prompts under 20 s; it cuts them to 15 s.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import UnsupportedRequestError


@dataclass(frozen=True)
class ConformerConfig:
    """One conditioning branch (`condition_module` / `emo_condition_module` in config.yaml)."""

    output_size: int = 512  # Conformer width
    linear_units: int = 2048  # feed-forward hidden width
    attention_heads: int = 8  # heads of both the Conformer and the Perceiver
    num_blocks: int = 6
    input_layer: str = "conv2d2"  # the only subsampling the release uses (halves the frame rate)
    perceiver_mult: int = 2  # Perceiver feed-forward width factor


class RelPositionalEncoding(nn.Module):
    """Scales the input by sqrt(width) and hands out the sinusoid table's first rows, which the
    attention projects as relative positions (the table is stored in the checkpoint)."""

    def __init__(self, width: int, max_len: int = 5000):
        super().__init__()
        self.xscale = math.sqrt(width)
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * -(math.log(10000.0) / width))
        pe = torch.zeros(max_len, width)
        pe[:, 0::2] = torch.sin(position * freq)
        pe[:, 1::2] = torch.cos(position * freq)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.size(1) >= self.pe.size(1):
            raise UnsupportedRequestError(
                f"reference audio too long for the conditioning encoder ({x.size(1)} frames after "
                f"subsampling, at most {self.pe.size(1) - 1}): cut it to a few seconds"
            )
        return x * self.xscale, self.pe[:, : x.size(1)].to(x.dtype)


class Conv2dSubsampling2(nn.Module):
    """A 3x3 stride-2 convolution over (time, feature), flattened and projected to the width."""

    def __init__(self, input_size: int, width: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, width, 3, 2), nn.ReLU())
        self.out = nn.Sequential(nn.Linear(width * ((input_size - 1) // 2), width))
        self.pos_enc = RelPositionalEncoding(width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))
        return self.pos_enc(x)


class RelPositionAttention(nn.Module):
    """Transformer-XL style attention with learned content (u) and position (v) biases. The
    official model skips the relative shift, so the position term is q·p over absolute rows."""

    def __init__(self, heads: int, width: int):
        super().__init__()
        self.h = heads
        self.d_k = width // heads
        self.linear_q = nn.Linear(width, width)
        self.linear_k = nn.Linear(width, width)
        self.linear_v = nn.Linear(width, width)
        self.linear_out = nn.Linear(width, width)
        self.linear_pos = nn.Linear(width, width, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(heads, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.zeros(heads, self.d_k))

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.linear_q(x).view(b, t, self.h, self.d_k)
        k = self.linear_k(x).view(b, t, self.h, self.d_k).transpose(1, 2)
        v = self.linear_v(x).view(b, t, self.h, self.d_k).transpose(1, 2)
        p = self.linear_pos(pos_emb).view(pos_emb.size(0), -1, self.h, self.d_k).transpose(1, 2)
        content = torch.matmul((q + self.pos_bias_u).transpose(1, 2), k.transpose(-2, -1))
        position = torch.matmul((q + self.pos_bias_v).transpose(1, 2), p.transpose(-2, -1))
        attn = torch.softmax((content + position) / math.sqrt(self.d_k), dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, self.h * self.d_k)
        return self.linear_out(out)


class ConvolutionModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv (kernel 15), LayerNorm, SiLU, pointwise conv."""

    def __init__(self, width: int, kernel_size: int = 15):
        super().__init__()
        self.pointwise_conv1 = nn.Conv1d(width, 2 * width, 1)
        padding = (kernel_size - 1) // 2
        self.depthwise_conv = nn.Conv1d(width, width, kernel_size, padding=padding, groups=width)
        self.norm = nn.LayerNorm(width)
        self.pointwise_conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.glu(self.pointwise_conv1(x.transpose(1, 2)), dim=1)
        x = self.depthwise_conv(x)
        x = F.silu(self.norm(x.transpose(1, 2))).transpose(1, 2)
        return self.pointwise_conv2(x).transpose(1, 2)


class FeedForward(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.w_1 = nn.Linear(width, hidden)
        self.w_2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(F.silu(self.w_1(x)))


class ConformerLayer(nn.Module):
    """Pre-norm block: attention, convolution, feed-forward (no macaron half-step), then a
    final LayerNorm."""

    def __init__(self, config: ConformerConfig):
        super().__init__()
        width = config.output_size
        self.self_attn = RelPositionAttention(config.attention_heads, width)
        self.feed_forward = FeedForward(width, config.linear_units)
        self.conv_module = ConvolutionModule(width)
        self.norm_ff = nn.LayerNorm(width)
        self.norm_mha = nn.LayerNorm(width)
        self.norm_conv = nn.LayerNorm(width)
        self.norm_final = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.norm_mha(x), pos_emb)
        x = x + self.conv_module(self.norm_conv(x))
        x = x + self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


class ConformerEncoder(nn.Module):
    """(B, T, input_size) features -> (B, (T - 1) // 2, output_size)."""

    def __init__(self, input_size: int, config: ConformerConfig):
        super().__init__()
        if config.input_layer != "conv2d2":
            raise ValueError(f"unsupported Conformer input layer {config.input_layer!r} (only conv2d2)")
        self.embed = Conv2dSubsampling2(input_size, config.output_size)
        self.encoders = nn.ModuleList(ConformerLayer(config) for _ in range(config.num_blocks))
        self.after_norm = nn.LayerNorm(config.output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, pos_emb = self.embed(x)
        for layer in self.encoders:
            x = layer(x, pos_emb)
        return self.after_norm(x)


class PerceiverAttention(nn.Module):
    """Latents attend to themselves and the context together (keys = [latents | context])."""

    def __init__(self, width: int, heads: int, dim_head: int = 64):
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.to_q = nn.Linear(width, inner, bias=False)
        self.to_kv = nn.Linear(width, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, width, bias=False)

    def forward(self, latents: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, _ = latents.shape
        k, v = self.to_kv(torch.cat((latents, context), dim=1)).chunk(2, dim=-1)
        q = self.to_q(latents)
        q, k, v = (t.reshape(b, t.size(1), self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * q.size(-1) ** -0.5, dim=-1)
        return self.to_out(torch.matmul(attn, v).transpose(1, 2).reshape(b, n, -1))


class GEGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = x.chunk(2, dim=-1)
        return F.gelu(gate) * x


class RMSNorm(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.scale = width**0.5
        self.gamma = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class PerceiverResampler(nn.Module):
    """Pools a sequence of any length into `num_latents` learned queries (two layers)."""

    def __init__(self, width: int, context_width: int, num_latents: int, heads: int, ff_mult: int, depth=2):
        super().__init__()
        # The official resampler projects the context only when the widths differ.
        self.proj_context = nn.Linear(context_width, width) if context_width != width else nn.Identity()
        self.latents = nn.Parameter(torch.zeros(num_latents, width))
        inner = int(width * ff_mult * 2 / 3)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PerceiverAttention(width, heads),
                    nn.Sequential(nn.Linear(width, inner * 2), GEGLU(), nn.Linear(inner, width)),
                ]
            )
            for _ in range(depth)
        )
        self.norm = RMSNorm(width)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        context = self.proj_context(context)
        latents = self.latents.unsqueeze(0).expand(context.size(0), -1, -1)
        for attn, ff in self.layers:
            latents = attn(latents, context) + latents
            latents = ff(latents) + latents
        return self.norm(latents)
