"""How IndexTTS-2's GPT picks its codes: the official decoding, transformers' ``generate`` as
IndexTTS-2 calls it (sampling, greedy, beam search and beam sampling, with the same logits
processors in the same order), plus two options for duration control: ``min_tokens`` and
``force_stop``.

``UnifiedVoice.generate`` (``gpt.py``) checks the options, feeds the prompt once through the
KV cache and hands its logits to ``sample`` or ``beam_search``; these ask the model for the
logits after each new code (``UnifiedVoice.next_logits``) and return the codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .gpt2 import KVCache

if TYPE_CHECKING:
    from .gpt import GPTConfig, UnifiedVoice

# The official prompt feeds `generate` placeholder ids of 1 in front of the start code, and
# transformers' repetition penalty counts them as already generated: code 1 and the start
# code are penalised from the first step on.
_PLACEHOLDER_ID = 1


@dataclass(frozen=True)
class Decoding:
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


def seen_codes(config: GPTConfig, history: torch.Tensor) -> torch.Tensor:
    """Which codes each row has "already generated" for the repetition penalty."""
    seen = torch.zeros(history.size(0), config.number_mel_codes, dtype=torch.bool, device=history.device)
    seen[:, [_PLACEHOLDER_ID, config.start_mel_token]] = True
    return seen.scatter_(1, history, True)

def process(scores: torch.Tensor, seen: torch.Tensor, n_codes: int, opts: Decoding, stop: int, final=False):
    """transformers' logits processors in its order: repetition penalty, (min length),
    then when sampling temperature, top-k, top-p. Beam search keeps at least two
    candidates a row in top-k/top-p, as transformers does. `final`: the forced stop step,
    which picks no candidates, so top-k/top-p do not apply."""
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

def sample(model: UnifiedVoice, logits: torch.Tensor, cache: KVCache, opts: Decoding, generator) -> torch.Tensor:
    """Sampling, or greedy decoding when not `opts.do_sample`: one row, from the prompt's
    `logits`."""
    stop = model.config.stop_mel_token
    codes = torch.zeros(1, 0, dtype=torch.long, device=logits.device)
    seen = seen_codes(model.config, codes)
    for n in range(opts.max_tokens):
        scores = process(logits, seen, n, opts, stop)
        if opts.do_sample:
            token = torch.multinomial(F.softmax(scores, dim=-1), 1, generator=generator)
        else:
            token = scores.argmax(dim=-1, keepdim=True)
        if token.item() == stop:
            break
        codes = torch.cat((codes, token), dim=1)
        seen[0, token[0, 0]] = True
        if n + 1 < opts.max_tokens:
            logits = model.next_logits(token, n + 1, cache)
    return codes

def beam_search(model: UnifiedVoice, logits: torch.Tensor, cache: KVCache, opts: Decoding, generator):
    """transformers' beam search (BeamSearchScorer with early_stopping=False), one batch
    row: keep the `num_beams` best running sequences; a stop code ends a hypothesis if it
    ranks within the first `num_beams` candidates; stop once no running beam can beat the
    worst of `num_beams` finished ones (scores are summed log-probabilities over
    length ** length_penalty)."""
    stop = model.config.stop_mel_token
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
        scores = process(F.log_softmax(logits, dim=-1), seen_codes(model.config, history), n, opts, stop)
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
            logits = model.next_logits(new_tokens, n + 1, cache)

    if not done:
        n = history.size(1)
        if opts.force_stop:
            scores = process(F.log_softmax(logits, dim=-1), seen_codes(model.config, history), n, opts, stop, True)
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

