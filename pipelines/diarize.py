"""Who speaks when: one speaker label per dubbing segment, and a reference clip per speaker.

Each segment is cut into 1.5 s windows (0.75 s hop) and every window goes through the
resemblyzer speaker encoder (weights inside its wheel, CPU, one batch); a segment's
embedding is the normalised mean of its windows. Segments of at least ``MIN_SECONDS`` are
clustered agglomeratively (average linkage, cosine distance): into ``num_speakers``
clusters when the caller knows the count, else by cutting the tree at
``DISTANCE_THRESHOLD`` with at most ``MAX_SPEAKERS`` clusters. Shorter segments carry too
little voice for the tree and take the label of the most similar cluster centroid. Labels
are "S1", "S2", ... in order of first appearance.

``DISTANCE_THRESHOLD`` (cosine distance 0.4, i.e. similarity 0.6) was tuned with
``python -m bench.diarize``: on its conversations (a LibriVox reader, the Asterisk prompt
voice, a Piper voice) the auto count is right for cuts from 0.25 to 0.45; pairs of one
speaker's segments are up to ~0.33 apart (a single odd segment up to ~0.35 from the rest
of its speaker on average), segments of different speakers at least ~0.42 and clusters of
different speakers ~0.45-0.6. 0.4 sits between the two. With an automatic count, a cluster
of under 2 s of speech within 0.5 of another is folded into it (one outlying line).
"""

from __future__ import annotations

import numpy as np

from .errors import UserError

RATE = 16_000
WINDOW_SECONDS = 1.5
HOP_SECONDS = 0.75
MIN_SECONDS = 0.8  # shorter segments are labelled by the nearest centroid, not clustered
DISTANCE_THRESHOLD = 0.4  # cosine distance cutting the average-linkage tree (auto count)
SMALL_CLUSTER_SECONDS = 2.0  # auto count: a cluster with less speech than this ...
ABSORB_DISTANCE = 0.5  # ... joins the nearest cluster whose centroid is closer than this
MAX_SPEAKERS = 8
_FRAMES_PER_SECOND = 100  # resemblyzer mel frames: 10 ms step


def _encoder():
    from tts_core.voice import _resemblyzer

    return _resemblyzer()


def warm() -> None:
    """The speaker encoder (torch and its weights, ~1 s to load) and the clustering, loaded
    ahead of ``diarize_stage``."""
    _encoder()
    import scipy.cluster.hierarchy  # noqa: F401


def _normalize(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-9)


def _clip(speech16k: np.ndarray, segment: dict) -> np.ndarray:
    a = max(0, int(round(float(segment["start"]) * RATE)))
    b = min(len(speech16k), int(round(float(segment["end"]) * RATE)))
    return np.asarray(speech16k[a:b], dtype=np.float32)


def segment_embeddings(speech16k: np.ndarray, segments: list[dict]) -> np.ndarray:
    """Unit-length resemblyzer embeddings, one row per segment (zeros for an empty one)."""
    import torch

    from tts_core.melspec import mel_frames

    _, encoder = _encoder()
    from resemblyzer.audio import normalize_volume
    from resemblyzer.hparams import audio_norm_target_dBFS

    win = int(WINDOW_SECONDS * _FRAMES_PER_SECOND)
    hop = int(HOP_SECONDS * _FRAMES_PER_SECOND)
    full: list[np.ndarray] = []  # windows of exactly `win` frames, batched together
    owners: list[int] = []
    partial: list[tuple[int, np.ndarray]] = []  # segments shorter than one window, encoded alone
    for i, seg in enumerate(segments):
        wav = _clip(speech16k, seg)
        if len(wav) < RATE // 10 or not np.any(wav):
            continue
        wav = normalize_volume(wav, audio_norm_target_dBFS, increase_only=True)
        mel = mel_frames(wav)  # resemblyzer's frames without importing librosa's (2 s of numba)
        if len(mel) < win:
            partial.append((i, mel))
            continue
        starts = list(range(0, len(mel) - win + 1, hop))
        if starts[-1] + win < len(mel) and len(mel) - (starts[-1] + win) > hop // 2:
            starts.append(len(mel) - win)  # cover the tail
        for s in starts:
            full.append(mel[s:s + win])
            owners.append(i)

    out = np.zeros((len(segments), 256), dtype=np.float32)
    counts = np.zeros(len(segments))
    with torch.no_grad():
        if full:
            batch = torch.from_numpy(np.stack(full)).to(encoder.device)
            partials = encoder(batch).cpu().numpy()
            for i, e in zip(owners, partials):
                out[i] += e
                counts[i] += 1
        for i, mel in partial:
            out[i] = encoder(torch.from_numpy(mel[None]).to(encoder.device)).cpu().numpy()[0]
            counts[i] = 1
    return _normalize(out) * (counts > 0)[:, None]


def _first_appearance_names(raw: list[int]) -> list[str]:
    names: dict[int, str] = {}
    for c in raw:
        names.setdefault(c, f"S{len(names) + 1}")
    return [names[c] for c in raw]


def _cluster(emb: np.ndarray, num_speakers: int | None, threshold: float, max_speakers: int) -> np.ndarray:
    if len(emb) == 1:
        return np.zeros(1, dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    tree = linkage(np.clip(pdist(emb, metric="cosine"), 0.0, 2.0), method="average")
    if num_speakers is not None:
        raw = fcluster(tree, t=min(num_speakers, len(emb)), criterion="maxclust")
    else:
        raw = fcluster(tree, t=threshold, criterion="distance")
        if raw.max() > max_speakers:
            raw = fcluster(tree, t=max_speakers, criterion="maxclust")
    return raw - 1


def _centroids(emb: np.ndarray, raw: np.ndarray) -> np.ndarray:
    return _normalize(np.stack([emb[raw == c].mean(axis=0) for c in range(raw.max() + 1)]))


def _absorb_small(emb: np.ndarray, raw: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Fold clusters with under ``SMALL_CLUSTER_SECONDS`` of speech into the nearest cluster
    when that is within ``ABSORB_DISTANCE``: one odd-sounding line (a shout, a phone voice)
    is more often an outlier of a known speaker than a new one. Clusters renumbered 0..k-1."""
    raw = raw.copy()
    while raw.max() > 0:
        centroids = _centroids(emb, raw)
        speech = np.array([durations[raw == c].sum() for c in range(len(centroids))])
        small = int(np.argmin(speech))
        if speech[small] >= SMALL_CLUSTER_SECONDS:
            break
        dist = 1.0 - centroids @ centroids[small]
        dist[small] = np.inf
        target = int(np.argmin(dist))
        if dist[target] >= ABSORB_DISTANCE:
            break
        raw[raw == small] = target
        raw = np.unique(raw, return_inverse=True)[1]
    return raw


def diarize(speech16k: np.ndarray, segments: list[dict], num_speakers: int | None = None, *,
            threshold: float = DISTANCE_THRESHOLD, max_speakers: int = MAX_SPEAKERS,
            embeddings: np.ndarray | None = None) -> list[str]:
    """A speaker label ("S1", "S2", ...) per segment, numbered by first appearance.
    ``embeddings``: the segments' ``segment_embeddings``, when the caller has them already."""
    if num_speakers is not None and num_speakers < 1:
        raise UserError(f"the number of speakers must be at least 1, not {num_speakers}")
    if not segments:
        return []
    emb = segment_embeddings(speech16k, segments) if embeddings is None else embeddings
    durations = np.array([float(s["end"]) - float(s["start"]) for s in segments])
    voiced = np.linalg.norm(emb, axis=1) > 0
    long = np.flatnonzero(voiced & (durations >= MIN_SECONDS))
    if num_speakers is not None and len(long) < num_speakers:  # too few long ones: cluster every voiced one
        long = np.flatnonzero(voiced)
    if len(long) == 0:
        long = np.flatnonzero(voiced)
    if len(long) == 0:  # nothing audible anywhere
        return ["S1"] * len(segments)

    raw = np.full(len(segments), -1)
    raw[long] = _cluster(emb[long], num_speakers, threshold, max_speakers)
    if num_speakers is None:
        raw[long] = _absorb_small(emb[long], raw[long], durations[long])
    centroids = _centroids(emb[long], raw[long])
    rest = np.setdiff1d(np.arange(len(segments)), long)
    for i in rest:
        if voiced[i]:
            raw[i] = int(np.argmax(centroids @ emb[i]))
    for i in rest:  # silent segments: the label of the nearest segment in time
        if raw[i] < 0:
            mid = (segments[i]["start"] + segments[i]["end"]) / 2
            known = [j for j in range(len(segments)) if raw[j] >= 0]
            raw[i] = raw[min(known, key=lambda j: abs((segments[j]["start"] + segments[j]["end"]) / 2 - mid))]
    return _first_appearance_names(raw.tolist())


def reference_clips(speech16k: np.ndarray, segments: list[dict], labels: list[str],
                    seconds: float = 6.0, embeddings: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A reference clip per speaker (16 kHz): their segments closest to their centroid,
    best first, concatenated up to ``seconds`` (shorter when they speak less than that)."""
    if len(labels) != len(segments):
        raise ValueError(f"{len(labels)} labels for {len(segments)} segments")
    emb = segment_embeddings(speech16k, segments) if embeddings is None else embeddings
    gap = np.zeros(int(0.1 * RATE), dtype=np.float32)
    want = int(seconds * RATE)
    clips: dict[str, np.ndarray] = {}
    for label in dict.fromkeys(labels):
        mine = [i for i, l in enumerate(labels) if l == label and np.any(emb[i])]
        if not mine:
            continue
        centroid = _normalize(emb[mine].mean(axis=0))
        ranked = sorted(mine, key=lambda i: -float(emb[i] @ centroid))
        pieces, total = [], 0
        for i in ranked:
            clip = _clip(speech16k, segments[i])
            if pieces:
                pieces.append(gap)
            pieces.append(clip[: max(0, want - total)])
            total += len(pieces[-1]) + (len(gap) if len(pieces) > 1 else 0)
            if total >= want:
                break
        clips[label] = np.concatenate(pieces)[:want].astype(np.float32)
    return clips


VERSION = "2"


def diarize_stage(dialogue_wav, segments: list[dict], num_speakers: int | None, folder) -> dict:
    """The pipeline stage: a speaker per dubbing segment and a reference clip per speaker
    (written as 16 kHz WAVs in the stage folder) for the TTS core's voice matching."""
    from .media import write_wav

    from .asr import load_speech

    speech = load_speech(dialogue_wav)
    embeddings = segment_embeddings(speech, segments) if segments else None  # the encoder's pass, once
    labels = diarize(speech, segments, num_speakers, embeddings=embeddings)
    clips = reference_clips(speech, segments, labels, embeddings=embeddings)
    references = {}
    for label, clip in clips.items():
        if len(clip) >= 16_000:  # under a second says too little about a voice
            references[label] = write_wav(folder / f"{label}.wav", clip, 16_000).name
    return {"labels": labels, "references": references}
