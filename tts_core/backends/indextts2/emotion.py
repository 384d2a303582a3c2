"""Emotion vectors for IndexTTS-2: from 8 weights, emotion names, or text (the Qwen model).

The GPT is conditioned on a 1280-d emotion vector. A recording gives one through the
emotion perceiver; weights over the 8 emotions give one by mixing rows of the release's
emotion matrix (feat2.pt): each emotion has a few rows, recorded by different speakers, and
the row whose speaker (feat1.pt, CAMPPlus styles) sounds most like the voice is used. The
weights' remainder (1 - their sum) is left to the voice's own emotion vector.

Text gives weights through the release's fine-tuned Qwen3-0.6B (qwen0.6bemo4-merge/), which
answers a classification prompt with JSON scores under Chinese emotion labels.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from ...errors import ModelFileError, UnsupportedRequestError
from ...prosody import EMOTIONS

# Rows of feat1.pt / feat2.pt per emotion, in EMOTIONS order (config.yaml ``emo_num``).
EMO_NUM = (3, 17, 2, 8, 4, 5, 10, 24)
# The release damps the emotions that sound strained at full strength (infer_v2's biases).
EMO_BIAS = (0.9375, 0.875, 1.0, 1.0, 0.9375, 0.9375, 0.6875, 0.5625)
# A manual vector may hold at most this much emotion in total.
MAX_EMOTION_SUM = 0.8

QWEN_FOLDER = "qwen0.6bemo4-merge"


def normalize_emo_vec(weights: Sequence[float], apply_bias: bool = True) -> list[float]:
    """Weights as the release applies them to a hand-set vector: biased, then scaled so they sum to at most 0.8."""
    vec = [float(w) for w in weights]
    if len(vec) != len(EMOTIONS):
        raise UnsupportedRequestError(f"an emotion vector has 8 values ({', '.join(EMOTIONS)}), got {len(vec)}")
    if apply_bias:
        vec = [w * b for w, b in zip(vec, EMO_BIAS)]
    total = sum(vec)
    if total > MAX_EMOTION_SUM:
        vec = [w * (MAX_EMOTION_SUM / total) for w in vec]
    return vec


def scale_emo_vec(weights: Sequence[float], alpha: float) -> list[float]:
    """The release's emotion strength for vectors: alpha clipped to [0, 1], each weight
    scaled and truncated to 4 decimals."""
    alpha = max(0.0, min(1.0, alpha))
    if alpha == 1.0:
        return [float(w) for w in weights]
    return [int(w * alpha * 10000) / 10000 for w in weights]


def emotion_weights(spec: str | Mapping[str, float]) -> list[float]:
    """8 raw weights from an emotion name ("angry"), names with weights ("angry:0.7,sad:0.3")
    or a mapping; a bare name weighs 1."""
    if isinstance(spec, str):
        pairs = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, weight = part.partition(":")
            try:
                pairs[name.strip().lower()] = float(weight) if weight.strip() else 1.0
            except ValueError:
                raise UnsupportedRequestError(
                    f"bad emotion weight in {part!r}: use name:weight, e.g. angry:0.7"
                ) from None
        spec = pairs
    unknown = [name for name in spec if name not in EMOTIONS]
    if unknown or not spec:
        raise UnsupportedRequestError(
            f"unknown emotion {', '.join(map(repr, unknown)) or '(none)'}: use {', '.join(EMOTIONS)}"
        )
    if any(not 0.0 <= w < float("inf") for w in spec.values()):
        raise UnsupportedRequestError("emotion weights must be finite and >= 0")
    return [float(spec.get(name, 0.0)) for name in EMOTIONS]


@dataclass(frozen=True)
class EmotionBank:
    """The release's emotion matrix (feat2.pt, rows of GPT width) and the speaker style of
    each row (feat1.pt, CAMPPlus width), split per emotion."""

    emo: tuple[torch.Tensor, ...]
    spk: tuple[torch.Tensor, ...]

    @classmethod
    def from_matrices(cls, emo_matrix: torch.Tensor, spk_matrix: torch.Tensor, emo_num: Sequence[int] = EMO_NUM):
        rows = sum(emo_num)
        if emo_matrix.shape[0] != rows or spk_matrix.shape[0] != rows or len(emo_num) != len(EMOTIONS):
            raise ModelFileError(
                f"emotion matrices have {emo_matrix.shape[0]} and {spk_matrix.shape[0]} rows; emo_num {list(emo_num)} "
                f"needs {rows} each, over {len(EMOTIONS)} emotions"
            )
        return cls(tuple(torch.split(emo_matrix, list(emo_num))), tuple(torch.split(spk_matrix, list(emo_num))))

    @classmethod
    def load(cls, emo_path: str | Path, spk_path: str | Path, emo_num: Sequence[int] = EMO_NUM) -> EmotionBank:
        def read(path):
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except FileNotFoundError as exc:
                raise ModelFileError(f"emotion matrix not found: {path}") from exc

        return cls.from_matrices(read(emo_path), read(spk_path), emo_num)

    def to(self, device) -> EmotionBank:
        return EmotionBank(tuple(t.to(device) for t in self.emo), tuple(t.to(device) for t in self.spk))

    def rows_for(self, style: torch.Tensor, rng: random.Random | None = None) -> list[int]:
        """Per emotion, the row whose speaker style is most cosine-similar to ``style`` (1, 192),
        or a random row when ``rng`` is given (the release's use_random)."""
        if rng is not None:
            return [rng.randint(0, len(t) - 1) for t in self.spk]
        return [int(F.cosine_similarity(style.float(), t.float(), dim=1).argmax()) for t in self.spk]

    def mix(self, weights: Sequence[float], rows: Sequence[int]) -> torch.Tensor:
        """sum_i weights[i] * emo[i][rows[i]]: (1, D)."""
        w = torch.tensor([float(x) for x in weights], device=self.emo[0].device)
        chosen = torch.stack([t[r] for t, r in zip(self.emo, rows)])
        return (w.unsqueeze(1) * chosen).sum(0, keepdim=True)


def emovec_from_vector(
    weights: Sequence[float],
    style: torch.Tensor,
    bank: EmotionBank,
    base_emovec: torch.Tensor,
    rng: random.Random | None = None,
) -> torch.Tensor:
    """The GPT's emotion vector from 8 weights: the bank rows matching the voice, mixed by
    ``weights``, plus (1 - sum(weights)) of the voice's own emotion vector ``base_emovec`` (1, D)."""
    mixed = bank.mix(weights, bank.rows_for(style, rng))
    total = torch.tensor([float(x) for x in weights], device=mixed.device).sum()
    return mixed + (1 - total) * base_emovec


# ---------------------------------------------------------------------------------------
# Text to emotion: the release's Qwen3-0.6B fine-tune

QWEN_PROMPT = "文本情感分类"  # "text emotion classification": the prompt it was tuned on
# Its answer's labels, in EMOTIONS order.
CHINESE_LABELS = ("高兴", "愤怒", "悲伤", "恐惧", "反感", "低落", "惊讶", "自然")
# The model never answers "低落" (melancholic): it says "悲伤" (sad). When the text names
# melancholy itself, the two scores are swapped, as the release does.
MELANCHOLIC_WORDS = ("低落", "melancholy", "melancholic", "depression", "depressed", "gloomy")
SCORE_RANGE = (0.0, 1.2)
LABEL_ALIASES = ("emotion", "emotion_label", "label", "情感", "情绪")


def _label(value) -> str | None:
    """A Chinese label from a label written in Chinese or English, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value in CHINESE_LABELS:
        return value
    lowered = value.lower()
    return CHINESE_LABELS[EMOTIONS.index(lowered)] if lowered in EMOTIONS else None


def _scores_from_labels(content) -> dict:
    """Answers that name an emotion instead of scoring it ("angry", {"label": "愤怒"},
    {"高兴": "悲伤"}) become scores of 1."""
    scores = dict(content) if isinstance(content, dict) else {}
    named = _label(content)
    if named is None:
        named = next((lab for lab in map(_label, (scores.get(a) for a in LABEL_ALIASES)) if lab), None)
    if named is not None and not any(key in scores for key in CHINESE_LABELS):
        scores[named] = 1.0
    for key in CHINESE_LABELS:
        named = _label(scores.get(key))
        if named is not None:
            scores[key] = 1.0 if named == key else 0.0
            if named != key:
                scores[named] = 1.0
    return scores


def _clamp(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0  # the release raises here; an unreadable score counts as absent
    if value != value:  # NaN
        return 0.0
    return max(SCORE_RANGE[0], min(SCORE_RANGE[1], value))


def parse_emotion_reply(reply: str, text: str) -> dict[str, float]:
    """The model's answer (JSON, or something like it) as scores for EMOTIONS, in that
    order; all-zero or unreadable answers fall back to calm = 1."""
    try:
        content = json.loads(reply)
    except json.JSONDecodeError:
        content = {}
        for m in re.finditer(r'([^\s":.,]+?)"?\s*:\s*([\d.]+)', reply):
            try:
                content[m.group(1)] = float(m.group(2))
            except ValueError:  # "1.2.3"
                continue
    if not isinstance(content, dict):
        content = _scores_from_labels(content)
    lowered = text.lower()
    if any(word in lowered for word in MELANCHOLIC_WORDS):
        sad, low = CHINESE_LABELS[2], CHINESE_LABELS[5]
        content[sad], content[low] = content.get(low, 0.0), content.get(sad, 0.0)
    content = _scores_from_labels(content)
    scores = {name: _clamp(content.get(label, 0.0)) for name, label in zip(EMOTIONS, CHINESE_LABELS)}
    if all(v <= 0.0 for v in scores.values()):
        scores["calm"] = 1.0
    return scores


class QwenEmotion:
    """Text -> 8 emotion scores with the release's Qwen3-0.6B emotion model."""

    def __init__(self, model, tokenizer, max_new_tokens: int = 256):
        self.model = model
        self.tokenizer = tokenizer
        # The answer is about 60 tokens of JSON; a model that rambles is cut off and then
        # parsed as far as it got.
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_folder(cls, folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
        """Load ``folder`` (the release's qwen0.6bemo4-merge/). Half precision on a GPU,
        float32 elsewhere, unless ``dtype`` says otherwise."""
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelFileError(
                f"the text-to-emotion model is missing: no {folder}/config.json. Put the release's "
                f"{QWEN_FOLDER}/ folder there, or give the emotion as names or weights instead of 'auto'"
            )
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if dtype is None:
            dtype = torch.float16 if torch.device(device).type == "cuda" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, output_loading_info=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"cannot load the text-to-emotion model from {folder}: {exc}") from exc
        missing = sorted(info.get("missing_keys") or [])
        if missing:
            raise ModelFileError(f"the text-to-emotion model in {folder} lacks weights: {missing[:5]}")
        return cls(model.to(device).eval(), tokenizer)

    def prompt_ids(self, text: str) -> dict:
        messages = [{"role": "system", "content": QWEN_PROMPT}, {"role": "user", "content": text}]
        prompt = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        return self.tokenizer([prompt], return_tensors="pt").to(self.model.device)

    @torch.no_grad()
    def reply(self, text: str) -> str:
        """The model's raw answer for ``text``, after any thinking block. Greedy decoding,
        so a line always gets the same emotion."""
        inputs = self.prompt_ids(text)
        out = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.eos_token_id,
        )
        ids = out[0][inputs["input_ids"].shape[1] :].tolist()
        think_end = self.tokenizer.convert_tokens_to_ids("</think>")
        if isinstance(think_end, int) and think_end in ids:
            ids = ids[len(ids) - ids[::-1].index(think_end) :]
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def scores(self, text: str) -> dict[str, float]:
        """Scores for EMOTIONS (each in [0, 1.2]; calm = 1 when nothing is detected)."""
        return parse_emotion_reply(self.reply(text), text)
