"""Semantic features: w2v-BERT 2.0 hidden states and the MaskGCT semantic codec.

IndexTTS-2 hears a voice prompt as w2v-BERT 2.0's 17th hidden state (50 frames a second,
1024 wide), standardised per channel with statistics shipped in the release. The GPT and
its conditioners read those features directly; the MaskGCT semantic codec (a RepCodec:
Vocos ConvNeXt encoder, one factorised 8-d vector quantiser with 8,192 codes) turns them
into the discrete codes the GPT generates, and turns codes back into 1024-d embeddings for
the S2M stage.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelFileError

# IndexTTS-2 reads hidden_states[17]: the output of the 17th conformer layer.
W2V_LAYER = 17
W2V_HUB_NAME = "facebook/w2v-bert-2.0"
W2V_SAMPLE_RATE = 16_000


# ---------------------------------------------------------------------------------------
# w2v-BERT 2.0


@cache
def _first_layers_class():
    from transformers import Wav2Vec2BertModel

    class FirstLayersWav2Vec2Bert(Wav2Vec2BertModel):
        # The checkpoint holds 24 layers and only the first W2V_LAYER are built, so the
        # deeper layers' weights are expected to stay unread: this keeps transformers from
        # reporting them as unused. A layer the model does build is still required.
        _keys_to_ignore_on_load_unexpected = [r"^encoder\.layers\.\d+\."]

    return FirstLayersWav2Vec2Bert


def load_w2v_bert(source: str | Path = W2V_HUB_NAME, device: str | torch.device = "cpu", layer: int = W2V_LAYER):
    """w2v-BERT 2.0 cut to its first ``layer`` layers, and its feature extractor.

    ``source`` is a folder laid out like the hub snapshot (config.json,
    preprocessor_config.json, model.safetensors) or a hub name. Returns
    ``(model, extractor)``; the model is in eval mode on ``device``.
    """
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig

    source = str(source)
    try:
        config = Wav2Vec2BertConfig.from_pretrained(source)
        if config.num_hidden_layers < layer:
            raise ModelFileError(f"w2v-BERT at {source!r} has {config.num_hidden_layers} layers; {layer} are needed")
        extractor = SeamlessM4TFeatureExtractor.from_pretrained(source)
    except OSError as exc:
        raise ModelFileError(f"w2v-BERT 2.0 not found at {source!r}: {exc}") from exc
    config.num_hidden_layers = layer
    try:
        model, info = _first_layers_class().from_pretrained(source, config=config, output_loading_info=True)
    except OSError as exc:
        raise ModelFileError(f"w2v-BERT 2.0 weights not found at {source!r}: {exc}") from exc
    except RuntimeError as exc:  # shape mismatches
        raise ModelFileError(f"w2v-BERT 2.0 weights at {source!r} do not fit the model: {exc}") from exc
    missing = sorted(info.get("missing_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or mismatched:
        raise ModelFileError(
            f"w2v-BERT 2.0 weights at {source!r} are incomplete: missing {missing[:5]}, mismatched {mismatched[:5]}"
        )
    return model.to(device).eval(), extractor


def load_w2v_stats(path: str | Path) -> dict[str, torch.Tensor]:
    """The release's wav2vec2bert_stats.pt: per-channel ``mean`` and ``var`` of the features."""
    try:
        stats = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelFileError(f"w2v-BERT feature statistics not found: {path}") from exc
    if not isinstance(stats, dict) or not {"mean", "var"} <= stats.keys():
        raise ModelFileError(f"{path} should hold a dict with 'mean' and 'var'")
    return {"mean": stats["mean"].float(), "var": stats["var"].float()}


@torch.no_grad()
def w2v_features(model, extractor, stats: dict[str, torch.Tensor], wave16k: torch.Tensor) -> torch.Tensor:
    """Standardised w2v-BERT features of a 16 kHz mono wave (1, N): (1, T, 1024), T = 50 a second."""
    if wave16k.dim() != 2 or wave16k.shape[0] != 1:
        raise ValueError(f"expected a (1, N) wave, got {tuple(wave16k.shape)}")
    inputs = extractor(
        wave16k[0].float().cpu().numpy(), sampling_rate=W2V_SAMPLE_RATE, return_tensors="pt", return_attention_mask=True
    )
    device = next(model.parameters()).device
    out = model(
        input_features=inputs["input_features"].to(device),
        attention_mask=inputs["attention_mask"].to(device),
        output_hidden_states=True,
    )
    feat = out.hidden_states[W2V_LAYER]
    mean = stats["mean"].to(feat.device)
    std = torch.sqrt(stats["var"].to(feat.device))
    return (feat - mean) / std


# ---------------------------------------------------------------------------------------
# MaskGCT semantic codec


@dataclass(frozen=True)
class SemanticCodecConfig:
    """Sizes of the semantic codec; defaults are the release (config.yaml ``semantic_codec``)."""

    codebook_size: int = 8192  # codes the GPT generates (plus its start/stop tokens)
    hidden_size: int = 1024  # w2v-BERT feature width, in and out
    codebook_dim: int = 8  # the quantiser compares in this projected space
    vocos_dim: int = 384  # ConvNeXt width of encoder and decoder
    vocos_intermediate_dim: int = 2048  # ConvNeXt MLP width
    vocos_num_layers: int = 12  # ConvNeXt blocks each in encoder and decoder
    num_quantizers: int = 1  # residual stages; the release has one

    @classmethod
    def from_dict(cls, section: dict) -> SemanticCodecConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(section) - known
        if unknown:
            raise ModelFileError(f"unsupported semantic_codec settings: {sorted(unknown)}")
        return cls(**section)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, intermediate_dim: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.norm(self.dwconv(x).transpose(1, 2))
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.transpose(1, 2)


class VocosBackbone(nn.Module):
    """(B, C_in, T) -> (B, T, dim)."""

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int):
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim) for _ in range(num_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class WeightNormConv1x1(nn.Module):
    """A 1x1 Conv1d stored as the release stores it, with weight normalisation's
    ``weight_g``/``weight_v``; the weight is recomputed from them at each call."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(out_channels, 1, 1))
        self.weight_v = nn.Parameter(torch.randn(out_channels, in_channels, 1) * 0.02)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.weight_v
        weight = v * (self.weight_g / v.norm(dim=(1, 2), keepdim=True))
        return F.conv1d(x, weight, self.bias)


class FactorizedQuantizer(nn.Module):
    """Nearest code by cosine similarity in a low-dimensional projection."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int):
        super().__init__()
        self.in_project = WeightNormConv1x1(input_dim, codebook_dim)
        self.out_project = WeightNormConv1x1(codebook_dim, input_dim)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, T) -> codes (B, T)."""
        latents = self.in_project(z)
        b, d, t = latents.shape
        enc = F.normalize(latents.transpose(1, 2).reshape(b * t, d))
        book = F.normalize(self.codebook.weight.to(enc.dtype))
        # The squared distance written out in full, as the codec was trained with: argmax
        # of its negative picks the same code as the reference on near ties.
        dist = enc.pow(2).sum(1, keepdim=True) - 2 * enc @ book.t() + book.pow(2).sum(1, keepdim=True).t()
        return (-dist).max(1)[1].reshape(b, t)

    def vq2emb(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T) -> (B, D, T)."""
        return self.out_project(F.embedding(codes, self.codebook.weight).transpose(1, 2))


class ResidualQuantizer(nn.Module):
    def __init__(self, cfg: SemanticCodecConfig):
        super().__init__()
        self.quantizers = nn.ModuleList(
            FactorizedQuantizer(cfg.hidden_size, cfg.codebook_size, cfg.codebook_dim) for _ in range(cfg.num_quantizers)
        )

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, T) -> (quantized (B, D, T), codes (n_q, B, T))."""
        quantized, residual, all_codes = torch.zeros_like(z), z, []
        for quantizer in self.quantizers:
            codes = quantizer.encode(residual)
            z_q = quantizer.vq2emb(codes)
            quantized = quantized + z_q
            residual = residual - z_q
            all_codes.append(codes)
        return quantized, torch.stack(all_codes)

    def vq2emb(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (n_q, B, T) -> (B, D, T), summed over the stages given."""
        return sum(q.vq2emb(c) for q, c in zip(self.quantizers, codes))


class SemanticCodec(nn.Module):
    """The MaskGCT semantic codec (RepCodec). The decoder is never run by IndexTTS-2; it is
    kept so the release's file loads strictly."""

    def __init__(self, cfg: SemanticCodecConfig):
        super().__init__()
        self.config = cfg

        def backbone():
            return nn.Sequential(
                VocosBackbone(cfg.hidden_size, cfg.vocos_dim, cfg.vocos_intermediate_dim, cfg.vocos_num_layers),
                nn.Linear(cfg.vocos_dim, cfg.hidden_size),
            )

        self.encoder = backbone()
        self.decoder = backbone()
        self.quantizer = ResidualQuantizer(cfg)

    @torch.no_grad()
    def quantize(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """w2v features (B, T, 1024) -> (codes, embedding (B, T, 1024)). Codes are (B, T)
        with one quantiser (the release), else (n_q, B, T)."""
        z = self.encoder(feat.transpose(1, 2)).transpose(1, 2)
        quantized, codes = self.quantizer(z)
        if codes.shape[0] == 1:
            codes = codes[0]
        return codes, quantized.transpose(1, 2)

    @torch.no_grad()
    def vq2emb(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, T) (or (n_q, B, T)) -> embeddings (B, 1024, T)."""
        if codes.dim() == 2:
            codes = codes.unsqueeze(0)
        return self.quantizer.vq2emb(codes)


def load_semantic_codec(
    path: str | Path, cfg: SemanticCodecConfig = SemanticCodecConfig(), device: str | torch.device = "cpu"
) -> SemanticCodec:
    """The codec from its safetensors file (the release's semantic_codec model.safetensors), loaded strictly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"semantic codec weights not found: {path}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"cannot read semantic codec weights {path}: {exc}") from exc
    with torch.device("meta"):
        codec = SemanticCodec(cfg)
    try:
        codec.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelFileError(f"semantic codec weights {path} do not fit the model: {exc}") from exc
    return codec.to(device).eval()
