"""IndexTTS-2's semantic-to-mel stage (S2M): semantic features -> 22 kHz mel frames.

Three parts, saved in s2mel.pth as ``{'net': {'cfm': ..., 'length_regulator': ...,
'gpt_layer': ...}}``:
    gpt_layer           projects the GPT's last hidden states (1280-d) to the semantic
                        codec's width; the sum with the codec's embeddings of the generated
                        codes is what the length regulator reads
    length_regulator    stretches semantic features to any number of mel frames (nearest
                        neighbour) and smooths them with convolutions: the place where an
                        exact output length is imposed
    cfm                 conditional flow matching: a DiT (``dit.py``) integrated from noise
                        by Euler steps with classifier-free guidance, continuing the
                        prompt's mel

Inference, as in the release:
    S = codec_embeddings(codes) + gpt_layer(model, latent)                 # (1, T, 1024)
    condition = cat([length_regulate(model, S_prompt, prompt_frames),
                     length_regulate(model, S, target_frames)], dim=1)
    mel = cfm_generate(model, condition, prompt_mel, style)                # (1, 80, target_frames)
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ModelFileError, UnsupportedRequestError
from .dit import DiT

# The S2M's GPT projection narrows in two hard-coded steps (1280 -> 256 -> 128 -> codec width).
GPT_LAYER_WIDTHS = (256, 128)

# What the released configuration fixes and this implementation assumes (yaml path, value).
_RELEASED_ARCHITECTURE = (
    (("dit_type",), "DiT"),
    (("length_regulator", "is_discrete"), False),
    (("length_regulator", "vector_quantize"), False),
    (("length_regulator", "n_codebooks"), 1),
    (("length_regulator", "f0_condition"), False),
    (("DiT", "style_condition"), True),
    (("DiT", "final_layer_type"), "wavenet"),
    (("DiT", "f0_condition"), False),
    (("DiT", "is_causal"), False),
    (("DiT", "long_skip_connection"), True),
    (("DiT", "zero_prompt_speech_token"), False),
    (("DiT", "time_as_token"), False),
    (("DiT", "style_as_token"), False),
    (("DiT", "uvit_skip_connection"), True),
    (("wavenet", "style_condition"), True),
)


@dataclass(frozen=True)
class S2MelConfig:
    """Sizes of the S2M model; the defaults are the release's."""

    n_mels: int = 80  # mel bins generated (DiT.in_channels)
    hidden_dim: int = 512  # DiT and WaveNet width (the release ties them)
    num_heads: int = 8
    depth: int = 13  # transformer blocks
    content_dim: int = 512  # length-regulator output = DiT content input
    content_codebook_size: int = 1024  # an embedding table the DiT saves but never reads
    style_dim: int = 192  # CAMPPlus speaker embedding
    wavenet_layers: int = 8
    wavenet_kernel_size: int = 5
    wavenet_dilation_rate: int = 1
    semantic_dim: int = 1024  # semantic-codec feature width (length-regulator input)
    regulator_blocks: int = 4  # conv + group norm + Mish blocks after the interpolation
    regulator_codebook_size: int = 2048  # another saved, unread table
    gpt_dim: int = 1280  # width of the GPT's hidden states; fixed by the GPT
    max_frames: int = 16384  # longest prompt + output, in mel frames (the DiT's position table)

    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> "S2MelConfig":
        """From the ``s2mel:`` section of the release's config.yaml."""
        try:
            for path, expected in _RELEASED_ARCHITECTURE:
                value = section
                for key in path:
                    value = value[key]
                if value != expected:
                    raise ModelFileError(
                        f"s2mel config: {'.'.join(path)} = {value!r} is not supported (IndexTTS-2 uses {expected!r})"
                    )
            dit, wavenet, regulator = section["DiT"], section["wavenet"], section["length_regulator"]
            if wavenet["hidden_dim"] != dit["hidden_dim"] or regulator["channels"] != dit["content_dim"]:
                raise ModelFileError(
                    "s2mel config: wavenet.hidden_dim must equal DiT.hidden_dim and "
                    "length_regulator.channels must equal DiT.content_dim"
                )
            if not regulator["sampling_ratios"]:
                raise ModelFileError("s2mel config: length_regulator.sampling_ratios is empty")
            return cls(
                n_mels=dit["in_channels"],
                hidden_dim=dit["hidden_dim"],
                num_heads=dit["num_heads"],
                depth=dit["depth"],
                content_dim=dit["content_dim"],
                content_codebook_size=dit["content_codebook_size"],
                style_dim=section["style_encoder"]["dim"],
                wavenet_layers=wavenet["num_layers"],
                wavenet_kernel_size=wavenet["kernel_size"],
                wavenet_dilation_rate=wavenet["dilation_rate"],
                semantic_dim=regulator["in_channels"],
                regulator_blocks=len(regulator["sampling_ratios"]),
                regulator_codebook_size=regulator["content_codebook_size"],
            )
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"s2mel config is incomplete: no {exc}") from None


class LengthRegulator(nn.Module):
    """Semantic features (B, T_tokens, semantic_dim) -> (B, frames, content_dim)."""

    def __init__(self, config: S2MelConfig):
        super().__init__()
        width = config.content_dim
        layers: list[nn.Module] = []
        for _ in range(config.regulator_blocks):
            layers += [nn.Conv1d(width, width, 3, padding=1), nn.GroupNorm(1, width), nn.Mish()]
        self.model = nn.Sequential(*layers, nn.Conv1d(width, width, 1))
        # Saved for discrete and masked inputs, which the release does not use.
        self.embedding = nn.Embedding(config.regulator_codebook_size, width)
        self.mask_token = nn.Parameter(torch.zeros(1, width))
        self.content_in_proj = nn.Linear(config.semantic_dim, width)

    def forward(self, S: Tensor, frames: int) -> Tensor:
        x = self.content_in_proj(S).transpose(1, 2)
        x = F.interpolate(x, size=frames, mode="nearest")
        return self.model(x).transpose(1, 2)


class FlowMatching(nn.Module):
    def __init__(self, config: S2MelConfig):
        super().__init__()
        self.estimator = DiT(config)


class S2Mel(nn.Module):
    def __init__(self, config: S2MelConfig):
        super().__init__()
        self.config = config
        self.cfm = FlowMatching(config)
        self.length_regulator = LengthRegulator(config)
        w1, w2 = GPT_LAYER_WIDTHS
        # Three linear maps with nothing between them, as trained.
        self.gpt_layer = nn.Sequential(
            nn.Linear(config.gpt_dim, w1), nn.Linear(w1, w2), nn.Linear(w2, config.semantic_dim)
        )


PARTS = ("cfm", "length_regulator", "gpt_layer")


def load_s2mel(path: str | Path, config: S2MelConfig, device: str | torch.device = "cpu") -> S2Mel:
    """The model from an official s2mel.pth, every tensor present with its shape, in eval
    mode without gradients."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"S2M weights not found: {path}") from None
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:  # truncated or foreign
        raise ModelFileError(f"{path} is not a readable S2M checkpoint ({exc.__class__.__name__}: {exc})") from None
    net = checkpoint.get("net") if isinstance(checkpoint, dict) else None
    if not isinstance(net, dict) or any(not isinstance(net.get(part), Mapping) for part in PARTS):
        raise ModelFileError(f"{path} is not an S2M checkpoint: expected {{'net': {{{', '.join(PARTS)}}}}}")
    state = {f"{part}.{name}": tensor for part in PARTS for name, tensor in net[part].items()}

    with torch.device("meta"):
        model = S2Mel(config)
    expected = model.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    wrong = [
        f"{name} {tuple(state[name].shape)} (expected {tuple(t.shape)})"
        for name, t in expected.items()
        if name in state and state[name].shape != t.shape
    ]
    if missing or unexpected or wrong:
        problems = [
            f"{label}: {', '.join(items[:8])}{' ...' if len(items) > 8 else ''} ({len(items)})"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if items
        ]
        raise ModelFileError(f"{path} does not match the S2M model of this config: " + "; ".join(problems))
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device).eval().requires_grad_(False)


def gpt_layer(model: S2Mel, latent: Tensor) -> Tensor:
    """GPT hidden states (B, T, gpt_dim) -> (B, T, semantic_dim), to add to the codec's
    embeddings of the same codes."""
    return model.gpt_layer(latent)


def length_regulate(model: S2Mel, S: Tensor, target_frames: int) -> Tensor:
    """Semantic features (B, T_tokens, semantic_dim) -> content condition
    (B, target_frames, content_dim). Any frame count works; the release uses
    int(T_tokens * 1.72) for generated speech and the prompt mel's length for the prompt."""
    if target_frames < 1:
        raise UnsupportedRequestError(f"a target of {target_frames} mel frames: at least 1 is needed")
    return model.length_regulator(S, int(target_frames))


@torch.inference_mode()
def cfm_generate(
    model: S2Mel,
    condition: Tensor,
    prompt_mel: Tensor,
    style: Tensor,
    steps: int = 25,
    cfg_rate: float = 0.7,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mel frames (B, n_mels, T - P) that continue ``prompt_mel``.

    condition: (B, T, content_dim), the prompt's P frames then the frames to generate;
    prompt_mel: (B, n_mels, P); style: (B, style_dim). ``noise`` (B, n_mels, T) is the
    start of the flow (the prompt's part is ignored); by default it is drawn from
    ``generator``. ``cfg_rate`` > 0 extrapolates away from the prediction made without
    prompt, condition and style.
    """
    estimator = model.cfm.estimator
    B, T, _ = condition.shape
    P = prompt_mel.shape[-1]
    if T > model.config.max_frames:
        raise UnsupportedRequestError(
            f"{T} mel frames of prompt and speech: at most {model.config.max_frames} fit the S2M model"
        )
    if not 0 <= P < T:
        raise ValueError(f"the prompt ({P} frames) must be shorter than the condition ({T} frames)")
    shape = (B, model.config.n_mels, T)
    if noise is None:
        noise = torch.randn(shape, generator=generator, device=condition.device, dtype=condition.dtype)
    elif tuple(noise.shape) != shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {shape}")

    x = noise.clone()
    x[..., :P] = 0
    prompt_x = torch.zeros_like(x)
    prompt_x[..., :P] = prompt_mel
    if cfg_rate > 0:
        # One batch of two: with the prompt, condition and style, and with all three zeroed.
        prompt_x = torch.cat([prompt_x, torch.zeros_like(prompt_x)])
        condition = torch.cat([condition, torch.zeros_like(condition)])
        style = torch.cat([style, torch.zeros_like(style)])

    # Uniform times; t is advanced by each step's width, as the release does (not reread).
    t_span = torch.linspace(0, 1, steps + 1, device=condition.device)
    t = t_span[0]
    for step in range(1, steps + 1):
        dt = t_span[step] - t_span[step - 1]
        if cfg_rate > 0:
            v, v_free = estimator(torch.cat([x, x]), prompt_x, t.expand(2 * B), style, condition).chunk(2)
            v = (1.0 + cfg_rate) * v - cfg_rate * v_free
        else:
            v = estimator(x, prompt_x, t.expand(B), style, condition)
        x = x + dt * v
        t = t + dt
        x[..., :P] = 0
    return x[..., P:]
