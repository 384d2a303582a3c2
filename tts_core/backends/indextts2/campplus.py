"""CAMPPlus speaker encoder (3D-Speaker; Wang et al., 2023): the global style vector that
conditions IndexTTS-2's semantic-to-mel stage and picks the emotion-matrix rows.

A 2-D residual front end reads the Kaldi filterbank as an image and folds frequency into
channels; a densely connected TDNN follows, each of whose layers gates its local output by a
context-aware mask (CAM) built from the utterance mean plus 100-frame segment means; mean and
standard deviation over time then go through one linear layer. Module names follow the
release checkpoint (campplus_cn_common.bin, a plain state dict), so it loads unchanged.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelFileError


@dataclass(frozen=True)
class CAMPPlusConfig:
    feat_dim: int = 80  # filterbank bins; the front end halves them three times (a multiple of 8)
    embedding_size: int = 192  # width of the style vector (s2mel style_encoder.dim)
    head_channels: int = 32  # channels of the 2-D front end
    head_blocks: tuple[int, int] = (2, 2)  # residual blocks in its two strided stages
    init_channels: int = 128  # TDNN width entering the first dense block
    growth_rate: int = 32  # channels each dense layer appends
    bn_size: int = 4  # a dense layer's bottleneck is bn_size * growth_rate wide
    block_layers: tuple[int, ...] = (12, 24, 16)  # dense layers per block
    block_dilations: tuple[int, ...] = (1, 2, 2)  # dilation of each block's kernel-3 convolutions
    segment_frames: int = 100  # CAM segment length in (half-rate) frames


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(channels), relu=nn.ReLU()))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut; `stride` subsamples frequency only."""

    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class FrontEnd(nn.Module):
    """(B, F, T) filterbank -> (B, channels * F / 8, T): frequency shrinks 8x, time stays."""

    def __init__(self, cfg: CAMPPlusConfig):
        super().__init__()
        c = cfg.head_channels
        self.conv1 = nn.Conv2d(1, c, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.layer1 = nn.Sequential(*[ResBlock(c, c, 2 if i == 0 else 1) for i in range(cfg.head_blocks[0])])
        self.layer2 = nn.Sequential(*[ResBlock(c, c, 2 if i == 0 else 1) for i in range(cfg.head_blocks[1])])
        self.conv2 = nn.Conv2d(c, c, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.out_channels = c * (cfg.feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        y = self.layer2(self.layer1(y))
        y = F.relu(self.bn2(self.conv2(y)))
        return y.flatten(1, 2)


class TDNNLayer(nn.Module):
    """The entry convolution: kernel 5, stride 2 in time, 'same' padding."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 5, stride=2, padding=2, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class CAMLayer(nn.Module):
    """A dilated convolution scaled channel-wise by a sigmoid mask of the context around it."""

    def __init__(self, channels: int, out_channels: int, dilation: int, segment_frames: int):
        super().__init__()
        self.segment_frames = segment_frames
        self.linear_local = nn.Conv1d(channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(channels, channels // 2, 1)
        self.linear2 = nn.Conv1d(channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = x.mean(-1, keepdim=True) + segment_means(x, self.segment_frames)
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * mask


def segment_means(x: torch.Tensor, segment: int) -> torch.Tensor:
    """Each frame replaced by the mean of its `segment`-frame block (a shorter last block
    averages only what it has)."""
    means = F.avg_pool1d(x, kernel_size=segment, stride=segment, ceil_mode=True)
    return means.repeat_interleave(segment, dim=-1)[..., : x.shape[-1]]


class DenseTDNNLayer(nn.Module):
    def __init__(self, in_channels: int, cfg: CAMPPlusConfig, dilation: int):
        super().__init__()
        bottleneck = cfg.bn_size * cfg.growth_rate
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bottleneck, 1, bias=False)
        self.nonlinear2 = _bn_relu(bottleneck)
        self.cam_layer = CAMLayer(bottleneck, cfg.growth_rate, dilation, cfg.segment_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class DenseTDNNBlock(nn.Module):
    """Each layer sees every earlier output: its growth_rate channels are appended."""

    def __init__(self, num_layers: int, in_channels: int, cfg: CAMPPlusConfig, dilation: int):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"tdnnd{i + 1}", DenseTDNNLayer(in_channels + i * cfg.growth_rate, cfg, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class TransitLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class StatsPool(nn.Module):
    """Mean and (unbiased) standard deviation over time, concatenated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1)], dim=-1)


class DenseLayer(nn.Module):
    """The embedding: a 1x1 convolution on the pooled vector, then a batchnorm without affine."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(out_channels, affine=False)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    def __init__(self, cfg: CAMPPlusConfig = CAMPPlusConfig()):
        super().__init__()
        self.cfg = cfg
        self.head = FrontEnd(cfg)
        channels = cfg.init_channels
        layers: list[tuple[str, nn.Module]] = [("tdnn", TDNNLayer(self.head.out_channels, channels))]
        for i, (num_layers, dilation) in enumerate(zip(cfg.block_layers, cfg.block_dilations), start=1):
            layers.append((f"block{i}", DenseTDNNBlock(num_layers, channels, cfg, dilation)))
            channels += num_layers * cfg.growth_rate
            layers.append((f"transit{i}", TransitLayer(channels, channels // 2)))
            channels //= 2
        layers += [
            ("out_nonlinear", _bn_relu(channels)),
            ("stats", StatsPool()),
            ("dense", DenseLayer(channels * 2, cfg.embedding_size)),
        ]
        self.xvector = nn.Sequential(OrderedDict(layers))
        # The reference initialisation: with torch's default a random model's embedding barely
        # depends on its input, which makes random models useless as test doubles.
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, feat_dim) filterbank -> (B, embedding_size)."""
        return self.xvector(self.head(feats.transpose(1, 2)))


def load_campplus(
    path: str | Path, device: str | torch.device = "cpu", cfg: CAMPPlusConfig = CAMPPlusConfig()
) -> CAMPPlus:
    """The encoder with the weights of a CAMPPlus state-dict file, in eval mode (batchnorm uses
    its running statistics). Every key must match: a partial load would run silently wrong."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
        raise ModelFileError(f"cannot load CAMPPlus weights from {path} ({exc})") from exc
    if not isinstance(state, dict):
        raise ModelFileError(f"{path} holds a {type(state).__name__}, not a CAMPPlus state dict")
    model = CAMPPlus(cfg)
    expected = model.state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    wrong_shape = [k for k in expected.keys() & state.keys() if expected[k].shape != state[k].shape]
    if missing or unexpected or wrong_shape:
        first = (missing + unexpected + wrong_shape)[0]
        raise ModelFileError(
            f"{path} is not a CAMPPlus checkpoint of this size: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong_shape)} misshapen keys (first: {first})"
        )
    model.load_state_dict(state)
    return model.to(device).eval()


@torch.no_grad()
def speaker_style(model: CAMPPlus, fbank: torch.Tensor) -> torch.Tensor:
    """(1, embedding_size) style vector of a (frames, feat_dim) Kaldi filterbank, after
    removing its mean over time as the release does (cepstral mean normalisation)."""
    feats = fbank - fbank.mean(dim=0, keepdim=True)
    weight = model.head.conv1.weight
    return model(feats.unsqueeze(0).to(device=weight.device, dtype=weight.dtype))
