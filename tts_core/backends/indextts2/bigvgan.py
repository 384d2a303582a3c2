"""The BigVGAN v2 vocoder (NVIDIA, arXiv 2206.04658) that turns IndexTTS-2's mels into sound.

The release uses ``nvidia/bigvgan_v2_22khz_80band_256x``: an 80-band log-mel at 22,050 Hz
with a hop of 256 samples goes through a stack of transposed convolutions (256x in all),
each followed by anti-aliased multi-periodicity (AMP) blocks: periodic Snake activations
run at twice the sample rate between two Kaiser-windowed sinc filters, so the harmonics
they create do not fold back as aliases. The checkpoint stores every convolution
weight-normalised (``weight_g`` magnitude, ``weight_v`` direction); the loader folds the two
into plain weights once, so inference pays nothing for it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelFileError

HUB_REPO = "nvidia/bigvgan_v2_22khz_80band_256x"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "bigvgan_generator.pt"

# The anti-aliased activations always resample by 2 with 12-tap filters (not in config.json).
ALIAS_RATIO = 2
ALIAS_TAPS = 12


@dataclass(frozen=True)
class BigVGANConfig:
    """The generator's fields of a BigVGAN ``config.json``; the defaults are the 22 kHz
    80-band 256x release."""

    num_mels: int = 80
    upsample_rates: tuple[int, ...] = (4, 4, 2, 2, 2, 2)  # their product is the hop
    upsample_kernel_sizes: tuple[int, ...] = (8, 8, 4, 4, 4, 4)
    upsample_initial_channel: int = 1536  # halved after every upsampling
    resblock: str = "1"  # "1": two convolutions per dilation, "2": one
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)  # one AMP block each, averaged
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    activation: str = "snakebeta"  # "snake": one parameter sets frequency and magnitude
    snake_logscale: bool = True  # alpha/beta are stored as logarithms
    use_tanh_at_final: bool = False  # else the output is clamped to [-1, 1]
    use_bias_at_final: bool = False
    sampling_rate: int = 22050  # of the output; not used by the network itself

    def __post_init__(self):
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if self.resblock not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', not {self.resblock!r}")
        if self.activation not in ("snake", "snakebeta"):
            raise ValueError(f"activation must be 'snake' or 'snakebeta', not {self.activation!r}")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_rates)

    @classmethod
    def from_dict(cls, h: dict) -> BigVGANConfig:
        """From a parsed ``config.json``; training-only keys are ignored."""
        config = cls(
            num_mels=int(h["num_mels"]),
            upsample_rates=tuple(int(u) for u in h["upsample_rates"]),
            upsample_kernel_sizes=tuple(int(k) for k in h["upsample_kernel_sizes"]),
            upsample_initial_channel=int(h["upsample_initial_channel"]),
            resblock=str(h["resblock"]),
            resblock_kernel_sizes=tuple(int(k) for k in h["resblock_kernel_sizes"]),
            resblock_dilation_sizes=tuple(tuple(int(d) for d in ds) for ds in h["resblock_dilation_sizes"]),
            activation=str(h["activation"]),
            snake_logscale=bool(h["snake_logscale"]),
            # BigVGAN v1 configs predate these two keys and had both.
            use_tanh_at_final=bool(h.get("use_tanh_at_final", True)),
            use_bias_at_final=bool(h.get("use_bias_at_final", True)),
            sampling_rate=int(h.get("sampling_rate", cls.sampling_rate)),
        )
        if "hop_size" in h and int(h["hop_size"]) != config.hop_length:
            raise ValueError(f"hop_size {h['hop_size']} is not the product of upsample_rates ({config.hop_length})")
        return config

    @classmethod
    def from_json(cls, path: str | Path) -> BigVGANConfig:
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(
                f"BigVGAN config not found: {path} (get {CONFIG_FILE} from {HUB_REPO} on the model hub)"
            )
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{path} is not a usable BigVGAN config: {exc}") from None


def kaiser_sinc_filter(cutoff: float, half_width: float, taps: int) -> torch.Tensor:
    """A windowed-sinc low-pass (``cutoff`` and transition ``half_width`` as fractions of the
    sample rate), summing to one so a constant passes unchanged; float32 as the release
    computed it. Shape (1, 1, taps)."""
    half = taps // 2
    # Kaiser's design formulas: stop-band attenuation A (dB) from the transition width.
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, periodic=False, beta=beta)
    # An even filter has no centre tap: its taps sit half a sample off the centre.
    time = torch.arange(-half, half) + 0.5 if taps % 2 == 0 else torch.arange(taps) - half
    kernel = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (kernel / kernel.sum()).view(1, 1, taps)


class WeightNormConv(nn.Module):
    """A 1-d convolution (or transposed convolution) stored as the release stores it: a
    direction ``weight_v`` and a magnitude ``weight_g`` per slice of the first weight axis.
    ``fold_weight_norm`` replaces the pair by the plain ``weight`` they describe."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 dilation: int = 1, padding: int = 0, bias: bool = True, transposed: bool = False):
        super().__init__()
        self.stride, self.dilation, self.padding, self.transposed = stride, dilation, padding, transposed
        shape = (in_channels, out_channels, kernel_size) if transposed else (out_channels, in_channels, kernel_size)
        bound = 1 / math.sqrt(in_channels * kernel_size)
        direction = torch.empty(shape).uniform_(-bound, bound)
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None
        self.weight_g = nn.Parameter(direction.norm(dim=(1, 2), keepdim=True))
        self.weight_v = nn.Parameter(direction)
        self.register_parameter("weight", None)

    def folded_weight(self) -> torch.Tensor:
        # torch's own kernel, not the formula: its norm sums in another order, and matching
        # the release's folded weights to the last bit keeps whole-pipeline traces comparable.
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def fold_weight_norm(self) -> None:
        if self.weight is not None:
            return
        weight = self.folded_weight().detach()
        self.register_parameter("weight_g", None)
        self.register_parameter("weight_v", None)
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.folded_weight() if self.weight is None else self.weight
        if self.transposed:
            return F.conv_transpose1d(x, weight, self.bias, self.stride, self.padding, dilation=self.dilation)
        return F.conv1d(x, weight, self.bias, self.stride, self.padding, self.dilation)


class Snake(nn.Module):
    """x + sin^2(alpha x) / beta per channel: a periodic bias towards harmonics of a learned
    frequency. Plain Snake ties the magnitude to the frequency (beta = alpha)."""

    def __init__(self, channels: int, logscale: bool, separate_magnitude: bool):
        super().__init__()
        self.logscale = logscale
        start = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(start.clone())
        self.beta = nn.Parameter(start.clone()) if separate_magnitude else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]
        beta = alpha if self.beta is None else self.beta[None, :, None]
        if self.logscale:
            alpha, beta = alpha.exp(), beta.exp()
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


class Upsample(nn.Module):
    """Doubles the sample rate: zero-stuffing then the low-pass (a strided transposed
    convolution), edges extended by repetition, not zeros, to avoid clicks."""

    def __init__(self):
        super().__init__()
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ALIAS_RATIO, 0.6 / ALIAS_RATIO, ALIAS_TAPS))
        self.pad = ALIAS_TAPS // ALIAS_RATIO - 1
        self.crop_left = self.pad * ALIAS_RATIO + (ALIAS_TAPS - ALIAS_RATIO) // 2
        self.crop_right = self.pad * ALIAS_RATIO + (ALIAS_TAPS - ALIAS_RATIO + 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        # The ratio restores the energy the zeros take away; scaling 12 taps is cheaper than
        # scaling the signal and exact (a power of two).
        kernel = (self.filter * ALIAS_RATIO).expand(channels, -1, -1)
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = F.conv_transpose1d(x, kernel, stride=ALIAS_RATIO, groups=channels)
        return x[..., self.crop_left : -self.crop_right]


class LowPass(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ALIAS_RATIO, 0.6 / ALIAS_RATIO, ALIAS_TAPS))
        self.pad_left = ALIAS_TAPS // 2 - (ALIAS_TAPS % 2 == 0)
        self.pad_right = ALIAS_TAPS // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=ALIAS_RATIO, groups=channels)


class Downsample(nn.Module):
    def __init__(self):
        super().__init__()
        self.lowpass = LowPass()  # a submodule of its own only to keep the release's names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class AntiAliasedSnake(nn.Module):
    """Snake at twice the sample rate, low-passed on the way up and down."""

    def __init__(self, channels: int, config: BigVGANConfig):
        super().__init__()
        self.act = Snake(channels, config.snake_logscale, separate_magnitude=config.activation == "snakebeta")
        self.upsample = Upsample()
        self.downsample = Downsample()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


def _same_conv(channels: int, kernel_size: int, dilation: int) -> WeightNormConv:
    padding = (kernel_size * dilation - dilation) // 2
    return WeightNormConv(channels, channels, kernel_size, dilation=dilation, padding=padding)


class AMPBlock1(nn.Module):
    """Per dilation: activation, dilated convolution, activation, plain convolution, residual."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...], config: BigVGANConfig):
        super().__init__()
        self.convs1 = nn.ModuleList(_same_conv(channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_same_conv(channels, kernel_size, 1) for _ in dilations)
        self.activations = nn.ModuleList(AntiAliasedSnake(channels, config) for _ in range(2 * len(dilations)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv1, conv2) in enumerate(zip(self.convs1, self.convs2)):
            x = x + conv2(self.activations[2 * i + 1](conv1(self.activations[2 * i](x))))
        return x


class AMPBlock2(nn.Module):
    """Per dilation: activation, dilated convolution, residual."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...], config: BigVGANConfig):
        super().__init__()
        self.convs = nn.ModuleList(_same_conv(channels, kernel_size, d) for d in dilations)
        self.activations = nn.ModuleList(AntiAliasedSnake(channels, config) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, act in zip(self.convs, self.activations):
            x = x + conv(act(x))
        return x


class BigVGAN(nn.Module):
    """Mel (B, num_mels, T) -> waveform (B, 1, T * hop) in [-1, 1]."""

    def __init__(self, config: BigVGANConfig):
        super().__init__()
        self.config = config
        width = config.upsample_initial_channel
        self.conv_pre = WeightNormConv(config.num_mels, width, 7, padding=3)
        # Each stage sits in a list of its own: the release's names carry that extra index.
        self.ups = nn.ModuleList(
            nn.ModuleList([
                WeightNormConv(width // 2**i, width // 2 ** (i + 1), k, stride=u, padding=(k - u) // 2, transposed=True)
            ])
            for i, (u, k) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes))
        )
        block = AMPBlock1 if config.resblock == "1" else AMPBlock2
        self.resblocks = nn.ModuleList(
            block(width // 2 ** (i + 1), k, d, config)
            for i in range(len(self.ups))
            for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes)
        )
        last = width // 2 ** len(self.ups)
        self.activation_post = AntiAliasedSnake(last, config)
        self.conv_post = WeightNormConv(last, 1, 7, padding=3, bias=config.use_bias_at_final)

    def fold_weight_norm(self) -> None:
        """Turn every (weight_g, weight_v) pair into a plain weight, once, for inference."""
        for module in self.modules():
            if isinstance(module, WeightNormConv):
                module.fold_weight_norm()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        per_stage = len(self.config.resblock_kernel_sizes)
        for i, (up,) in enumerate(self.ups):
            x = up(x)
            blocks = self.resblocks[i * per_stage : (i + 1) * per_stage]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / per_stage
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.config.use_tanh_at_final else x.clamp(-1.0, 1.0)


def load_bigvgan(folder: str | Path, device: str | torch.device = "cpu") -> BigVGAN:
    """The vocoder from a folder holding the release's ``config.json`` and
    ``bigvgan_generator.pt`` (``{'generator': state_dict}``), weight norm folded, in eval mode."""
    folder = Path(folder)
    config = BigVGANConfig.from_json(folder / CONFIG_FILE)
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise ModelFileError(
            f"BigVGAN weights not found: {path} (get {WEIGHTS_FILE} from {HUB_REPO} on the model hub)"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise ModelFileError(f"{path} is not a readable PyTorch checkpoint ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(checkpoint, dict) or "generator" not in checkpoint:
        raise ModelFileError(f"{path} has no 'generator' state dict: is it a BigVGAN generator checkpoint?")
    state = _weight_norm_names(checkpoint["generator"])

    with torch.device("meta"):  # the checkpoint supplies every tensor: skip random init
        model = BigVGAN(config)
    if "conv_pre.weight" in state:  # saved after weight norm was removed
        model.fold_weight_norm()
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path} does not match its {CONFIG_FILE}: {exc}") from None
    model.fold_weight_norm()
    return model.to(device).eval()


def _weight_norm_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints saved with torch's newer parametrised weight norm name the same pair
    ``parametrizations.weight.original0/1``; map them to ``weight_g/weight_v``."""
    renamed = {}
    for name, tensor in state.items():
        name = name.replace(".parametrizations.weight.original0", ".weight_g")
        renamed[name.replace(".parametrizations.weight.original1", ".weight_v")] = tensor
    return renamed


def vocode(model: BigVGAN, mel: torch.Tensor) -> torch.Tensor:
    """Waveform (B, T * hop) in [-1, 1] at ``model.config.sampling_rate`` from a log-mel
    (B, num_mels, T), the S2M stage's output as it is."""
    if mel.dim() != 3 or mel.shape[1] != model.config.num_mels:
        raise ValueError(f"expected a mel of shape (batch, {model.config.num_mels}, frames), got {tuple(mel.shape)}")
    reference = next(model.parameters())
    with torch.inference_mode():
        return model(mel.to(device=reference.device, dtype=reference.dtype)).squeeze(1)
