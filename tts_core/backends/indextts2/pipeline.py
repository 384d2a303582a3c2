"""The whole IndexTTS-2 model: a speaker's conditioning once, then per line the GPT's
semantic codes and the mel and waveform at any length.

The stages are the official ones (``infer_v2.py``): w2v-BERT features of the speaker and
emotion prompts, the GPT's codes and latents, the length regulator, flow matching and
BigVGAN. What differs is where the length comes from: the official release always asks the
mel stage for ``int(codes * 1.72)`` frames; here the caller names the frame count, which is
how every slot becomes exact.

``trace``, when a dict, receives the named intermediate tensors of the official parity
harness, so a run can be compared tensor by tensor with the official code.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...errors import UnsupportedRequestError
from . import audio, bigvgan, campplus, emotion, gpt, gpt2, s2mel, semantic, text
from .checkpoints import Layout

# The mel stage's frames per semantic code in the release (50 codes, 86.13 frames a second).
FRAMES_PER_CODE = 1.72
MIN_REFERENCE_S = 1.0
MAX_PROMPT_S = 15.0  # the official code cuts prompts to 15 s
SPEAKERS_KEPT = 16


@dataclass(frozen=True)
class Settings:
    """How hard the model works. The defaults are the official inference settings."""

    num_beams: int = 3  # GPT beam search width
    do_sample: bool = True
    top_k: int = 30
    top_p: float = 0.8
    temperature: float = 0.8
    repetition_penalty: float = 10.0
    length_penalty: float = 0.0
    max_tokens: int = 1500  # codes the GPT may generate for one line (30 s)
    steps: int = 25  # flow-matching steps
    cfg_rate: float = 0.7  # classifier-free guidance of the mel stage
    fp16: bool = False  # half precision on CUDA (ignored on CPU)
    # On a CPU: the GPT with int8 weights (dynamic quantisation, one scale per output
    # channel), and the mel stage in bfloat16 where the CPU computes it natively.
    # Measured in bench.indextts2 at full size: generation 2.5x faster (its speed is bound
    # by reading the weights), flow matching 2.3x; the codes are no longer the official
    # ones (on random weights half of them differ; what that does with the real weights
    # could not be heard here).
    low_precision: bool = False


OFFICIAL = Settings()
# One beam and a third of the flow-matching steps: measured in bench.indextts2.
FAST = Settings(num_beams=1, steps=8, low_precision=True)


@dataclass(frozen=True)
class Speaker:
    """What a reference clip gives every line: computed once per speaker."""

    features: torch.Tensor  # normalised w2v-BERT features (1, T, 1024) of the speaker prompt
    conditioning: torch.Tensor  # the GPT's speaker latents from them (1, 32, 1280)
    prompt: torch.Tensor  # the length regulator's output for the reference (1, frames, 512)
    mel: torch.Tensor  # the reference's 22 kHz mel (1, 80, frames): the flow's prompt
    style: torch.Tensor  # CAMPPlus style (1, 192)
    source: str  # the reference clip: also the emotion prompt when no other is given


@dataclass(frozen=True)
class Codes:
    """The GPT's output for one line."""

    codes: torch.Tensor  # (1, n) semantic codes, stop token removed
    latent: torch.Tensor  # (1, n, 1280) GPT hidden states the mel stage conditions on
    emovec: torch.Tensor  # (1, 1280) the emotion the line was generated with


class IndexTTS2:
    def __init__(self, layout: Layout, *, device: str = "cpu", settings: Settings = OFFICIAL):
        self.layout = layout
        self.device = torch.device(device)
        self.settings = settings
        self.trace: dict | None = None
        config = layout.config
        self.tokenizer = text.TextTokenizer(layout.bpe)
        self.gpt = gpt.load_gpt(layout.gpt, gpt.GPTConfig.from_dict(config["gpt"]), device=self.device)
        if settings.low_precision and self.device.type == "cpu":
            _int8(self.gpt)
        # The mel stage reads the GPT's hidden states: its input is as wide as the GPT.
        s2mel_config = replace(s2mel.S2MelConfig.from_dict(config["s2mel"]), gpt_dim=int(config["gpt"]["model_dim"]))
        self.s2mel = s2mel.load_s2mel(layout.s2mel, s2mel_config, device=self.device)
        self.w2v, self.extractor = semantic.load_w2v_bert(layout.w2v_bert, device=self.device)
        self.w2v_stats = semantic.load_w2v_stats(layout.w2v_stats)
        self.codec = semantic.load_semantic_codec(
            layout.semantic_codec, semantic.SemanticCodecConfig.from_dict(config["semantic_codec"]), device=self.device)
        self.campplus = campplus.load_campplus(layout.campplus, device=self.device)
        self.vocoder = bigvgan.load_bigvgan(layout.bigvgan, device=self.device)
        self.emotions = emotion.EmotionBank.load(layout.emo_matrix, layout.spk_matrix,
                                                 config.get("emo_num", emotion.EMO_NUM)).to(self.device)
        self._speakers: OrderedDict[tuple, Speaker] = OrderedDict()
        self._emotion_features: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._qwen = None

    # -- conditioning ---------------------------------------------------------------------

    def _keep(self, name: str, value: torch.Tensor) -> None:
        if self.trace is not None and name not in self.trace:
            self.trace[name] = value.detach().float().cpu().clone() if value.is_floating_point() \
                else value.detach().cpu().clone()

    @torch.no_grad()
    def speaker(self, reference: str | Path) -> Speaker:
        """The conditioning of a reference clip, kept for the last few speakers."""
        key = _file_key(reference)
        if key in self._speakers:
            self._speakers.move_to_end(key)
            return self._speakers[key]
        wave22 = self._prompt(reference, 22050)
        wave16 = audio.resample(wave22, 22050, 16000)
        features = self._features(wave16, 1)
        codes, s_ref = self.codec.quantize(features)
        self._keep("S_ref_codes", codes)
        self._keep("S_ref", s_ref)
        mel = audio.mel_spectrogram(wave22.to(self.device))
        self._keep("ref_mel", mel)
        fbank = audio.kaldi_fbank(wave16.to(self.device))
        self._keep("campplus_fbank", fbank)
        style = campplus.speaker_style(self.campplus, fbank)
        self._keep("style", style)
        prompt = s2mel.length_regulate(self.s2mel, s_ref, mel.shape[-1])
        self._keep("prompt_condition", prompt)
        conditioning = self.gpt.speaker_conditioning(features)
        self._keep("spk_cond_latent.1", conditioning)
        found = Speaker(features=features, conditioning=conditioning, prompt=prompt, mel=mel, style=style,
                        source=str(reference))
        self._speakers[key] = found
        if len(self._speakers) > SPEAKERS_KEPT:
            self._speakers.popitem(last=False)
        return found

    @torch.no_grad()
    def emotion_features(self, recording: str | Path) -> torch.Tensor:
        """w2v-BERT features of an emotion prompt (the official code reads it at 16 kHz)."""
        key = _file_key(recording)
        if key not in self._emotion_features:
            self._emotion_features[key] = self._features(self._prompt(recording, 16000), 2)
            if len(self._emotion_features) > SPEAKERS_KEPT:
                self._emotion_features.popitem(last=False)
        return self._emotion_features[key]

    def _prompt(self, path: str | Path, rate: int) -> torch.Tensor:
        wave = audio.load_audio(path, rate, MAX_PROMPT_S)
        if wave.shape[-1] < MIN_REFERENCE_S * rate:
            raise UnsupportedRequestError(
                f"the reference {path} is {wave.shape[-1] / rate:.2f} s long: IndexTTS-2 needs at least "
                f"{MIN_REFERENCE_S:g} s of the speaker (3-15 s is best)")
        return wave

    def _features(self, wave16: torch.Tensor, index: int) -> torch.Tensor:
        if self.trace is not None:  # what the extractor gives w2v-BERT, for the parity trace only
            inputs = self.extractor(wave16[0].float().numpy(), sampling_rate=16000, return_tensors="pt")
            self._keep(f"w2v_input_features.{index}", inputs["input_features"])
        features = semantic.w2v_features(self.w2v, self.extractor, self.w2v_stats, wave16)
        self._keep(f"w2v_feat_norm.{index}", features)
        return features

    @torch.no_grad()
    def emovec(self, speaker: Speaker, *, emotion_wav: str | Path | None = None,
               vector: Sequence[float] | None = None, alpha: float = 1.0) -> torch.Tensor:
        """The emotion the GPT is conditioned on, as the official code mixes it: from the
        speaker's own clip, from another recording (blended by ``alpha``), or from the
        8 weights (scaled by ``alpha``) added to the speaker's own in what they leave.
        The speaker's clip as an emotion prompt is read again at 16 kHz, as the release
        does (which is not quite the speaker prompt's 22 kHz read resampled)."""
        alpha = min(1.0, max(0.0, float(alpha)))
        if vector is not None or emotion_wav is None:
            emo_features, alpha_wav = self.emotion_features(speaker.source), 1.0
        else:
            emo_features, alpha_wav = self.emotion_features(emotion_wav), alpha
        vec = self.gpt.merge_emovec(speaker.features, emo_features, alpha_wav)
        if vector is not None:
            weights = emotion.scale_emo_vec(vector, alpha)
            vec = emotion.emovec_from_vector(weights, speaker.style, self.emotions, vec)
        self._keep("emovec.1", vec)
        return vec

    def emotion_from_text(self, line: str) -> list[float]:
        """Eight weights read from the text by the release's Qwen emotion model (used as
        they come, as the release does: each in [0, 1.2])."""
        if self._qwen is None:
            self._qwen = emotion.QwenEmotion.from_folder(self.layout.qwen_emo, device=self.device)
        scores = self._qwen.scores(line)
        return [float(scores[name]) for name in emotion.EMOTIONS]

    # -- one line ---------------------------------------------------------------------------

    def segments(self, line: str, language: str | None = None) -> list[list[int]]:
        """The line's BPE ids, in pieces of at most 120 (as the release splits long text)."""
        return self.tokenizer.split_segments(text.tokenize(self.tokenizer, line, language))

    @torch.no_grad()
    def codes(self, line: str, speaker: Speaker, emovec: torch.Tensor, *, seed: int = 0, language: str | None = None,
              min_tokens: int | None = None, max_tokens: int | None = None) -> Codes:
        """The GPT's semantic codes for a line at its own pace (or within the bounds). A
        long line is generated piece by piece and its codes joined into one utterance."""
        settings = self.settings
        generator = torch.Generator(device=self.device).manual_seed(seed)
        # The model's position table bounds a line's codes (1,816 in the release: 36 s).
        max_tokens = min(max_tokens or settings.max_tokens, self.gpt.max_codes)
        all_codes, all_latents = [], []
        for piece in self.segments(line, language):
            ids = torch.tensor([piece], dtype=torch.long, device=self.device)
            with self._autocast():
                found = self.gpt.generate(
                    speaker.conditioning, ids, emovec,
                    num_beams=settings.num_beams, do_sample=settings.do_sample, top_k=settings.top_k,
                    top_p=settings.top_p, temperature=settings.temperature,
                    repetition_penalty=settings.repetition_penalty, length_penalty=settings.length_penalty,
                    max_tokens=max_tokens, min_tokens=min_tokens, generator=generator)
                self._keep("codes_raw.1", found)
                codes = found  # the stop code is not part of what generate returns
                latent = self.gpt.latents(speaker.conditioning, ids, codes, emovec)
            self._keep("gpt_latent.1", latent)
            all_codes.append(codes)
            all_latents.append(latent.float())
        return Codes(codes=torch.cat(all_codes, dim=1), latent=torch.cat(all_latents, dim=1), emovec=emovec)

    @torch.no_grad()
    def mel(self, found: Codes, speaker: Speaker, frames: int, *, keep: slice = slice(None), seed: int = 0,
            noise: torch.Tensor | None = None) -> torch.Tensor:
        """``frames`` mel frames of the line: its codes (those in ``keep``) stretched to any
        length by the length regulator, then flow matching from the speaker's prompt."""
        latent = s2mel.gpt_layer(self.s2mel, found.latent.float())
        self._keep("gpt_layer_out.1", latent)
        content = self.codec.vq2emb(found.codes).transpose(1, 2) + latent
        content = content[:, keep]
        with self._mel_autocast():
            return self._mel(content, speaker, frames, seed, noise).float()

    def _mel(self, content, speaker: Speaker, frames: int, seed: int, noise: torch.Tensor | None) -> torch.Tensor:
        settings = self.settings
        cond = s2mel.length_regulate(self.s2mel, content, frames)
        self._keep("cond.1", cond)
        if noise is None:
            generator = torch.Generator(device=self.device).manual_seed(seed)
            total = speaker.mel.shape[-1] + frames
            noise = torch.randn(1, speaker.mel.shape[1], total, generator=generator, device=self.device)
        self._keep("cfm_noise_z", noise)
        condition = torch.cat([speaker.prompt, cond], dim=1)
        mel = s2mel.cfm_generate(self.s2mel, condition, speaker.mel, speaker.style, steps=settings.steps,
                                 cfg_rate=settings.cfg_rate, noise=noise)
        if self.trace is not None:  # the flow's whole output: its prompt region stays zero
            self._keep("vc_full.1", torch.cat([torch.zeros_like(speaker.mel), mel], dim=-1))
        self._keep("bigvgan_in.1", mel)
        return mel

    @torch.no_grad()
    def waveform(self, mel: torch.Tensor) -> np.ndarray:
        wave = bigvgan.vocode(self.vocoder, mel.float())
        self._keep("wav.1", wave.reshape(1, 1, -1))
        return wave.reshape(-1).float().cpu().numpy()

    def _mel_autocast(self):
        enabled = (self.settings.low_precision and self.device.type == "cpu"
                   and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(enabled))

    def _autocast(self):
        enabled = self.settings.fp16 and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=enabled)


def _int8(model: torch.nn.Module) -> None:
    """``model``'s linear layers, in place, with int8 weights (one scale per output channel)
    computing on int8 activations quantised on the fly: a quarter of the memory to read."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    _conv1d_to_linear(model)
    with warnings.catch_warnings():  # torch announces a successor API; this one is in 2.x
        warnings.simplefilter("ignore")
        quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


def _conv1d_to_linear(module: torch.nn.Module) -> None:
    """GPT-2's Conv1D layers (weights stored (in, out)) as the nn.Linear they compute."""
    for name, child in module.named_children():
        if isinstance(child, gpt2.Conv1D):
            linear = torch.nn.Linear(*child.weight.shape)
            linear.weight.data = child.weight.data.t().contiguous()
            linear.bias.data = child.bias.data
            setattr(module, name, linear)
        else:
            _conv1d_to_linear(child)


def _file_key(path: str | Path) -> tuple:
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        raise UnsupportedRequestError(f"the recording {p} does not exist: check the path") from None
    return str(p.resolve()), stat.st_mtime_ns, stat.st_size
