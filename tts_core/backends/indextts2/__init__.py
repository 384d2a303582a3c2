"""IndexTTS-2 (Bilibili, arXiv 2506.21619) written for this project: it loads the official
release's checkpoints and runs on torch alone (no torchaudio, no text-processing grammars).

One module per component, each built from a size config so a tiny random model runs the
real code path in tests:
    checkpoints  where the release's files are (a folder, the hub cache, a download)
    audio        resampling, Kaldi filterbank, the 22 kHz mel of the S2M stage
    campplus     the CAMPPlus speaker-style encoder
    semantic     w2v-BERT 2.0 features and the MaskGCT semantic codec
    text         text normalisation and the BPE tokenizer (text_en.py, text_zh.py: the
                 English and Chinese readings)
    emotion      emotion vectors: from weights, a recording, or text (the Qwen emotion model)
    gpt          the autoregressive text-to-semantic model (UnifiedVoice v2; gpt2.py: its
                 transformer and KV cache, decoding.py: sampling and beam search,
                 conformer.py: its prompt encoders)
    s2mel        semantic-to-mel: length regulator and flow matching (dit.py: its network)
    bigvgan      the BigVGAN v2 vocoder
    pipeline     the whole model: a speaker's conditioning, a line's codes, mel and audio
    backend      the duration-controlled core's backend ("indextts2"); imports no torch
"""
