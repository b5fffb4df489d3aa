"""A tiny MusicGen built from configs offline (random weights), saved like a real checkpoint so
the generator loads it through the same `from_pretrained` path.

The codec keeps the real geometry (32 kHz, upsampling 8*5*4*4 = 640, 2.2 kbps: four
codebooks of 1024 codes at 50 frames a second); with anything else it gets no quantizers and
decoding fails. Every hidden size is tiny. The T5 tokenizer is a small Unigram model trained
here with `tokenizers`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    EncodecConfig,
    EncodecFeatureExtractor,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    MusicgenProcessor,
    T5Config,
    T5Tokenizer,
)

WORDS = [
    "a",
    "calm",
    "walk",
    "by",
    "the",
    "river",
    "joyful",
    "jig",
    "melancholy",
    "air",
    "in",
    "G",
    "D",
    "Am",
    "bpm",
    "mood",
    "slow",
    "fast",
    "bright",
    "dark",
    "folk",
    "tune",
    "fiddle",
    "harp",
    "night",
    "morning",
    "sea",
    "storm",
    "hopeful",
    "waltz",
]


def _t5_tokenizer() -> T5Tokenizer:
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=120, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    sentences = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    unigram.train_from_iterator(sentences, trainer=trainer)
    vocab = unigram.get_vocab()
    pieces = sorted(vocab.items(), key=lambda kv: kv[1])
    scored = [(piece, float(-i)) for i, (piece, _) in enumerate(pieces)]
    return T5Tokenizer(vocab=scored, extra_ids=0)


def build_tiny_musicgen(out: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = _t5_tokenizer()
    text = T5Config(
        vocab_size=len(tokenizer),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
    )
    audio = EncodecConfig(
        sampling_rate=32_000,
        upsampling_ratios=[8, 5, 4, 4],
        target_bandwidths=[2.2],
        audio_channels=1,
        num_filters=4,
        hidden_size=16,
        codebook_size=1024,
        codebook_dim=16,
        num_lstm_layers=1,
        normalize=False,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=1024,
        num_codebooks=4,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        max_position_embeddings=512,
    )
    config = MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)
    model = MusicgenForConditionalGeneration(config).eval()
    with torch.no_grad():  # codebooks start at zero: every code would decode to silence
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    model.generation_config.decoder_start_token_id = 1024
    model.generation_config.pad_token_id = 1024
    model.generation_config.max_length = 256
    processor = MusicgenProcessor(
        feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=32_000),
        tokenizer=tokenizer,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
