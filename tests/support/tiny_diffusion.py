"""A tiny real Stable Diffusion pipeline built offline from configs (random weights).

Saved to a directory, it loads through `AutoPipelineForText2Image.from_pretrained(dir)`
exactly like a real model. The CLIP tokenizer is a small BPE trained here.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from tests.support.tiny_models import SAMPLE_LINES

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _clip_tokenizer() -> CLIPTokenizer:
    """A BPE in CLIP's shape (word-final `</w>`, its two specials), trained on a few lines."""
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token=EOS))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=[BOS, EOS], end_of_word_suffix="</w>", show_progress=False
    )
    bpe.train_from_iterator([line.lower() for line in SAMPLE_LINES], trainer)
    saved = json.loads(bpe.to_str())["model"]
    # transformers v5 wants merges as pairs; tokenizers may store them as "a b" strings.
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in saved["merges"]]
    return CLIPTokenizer(vocab=saved["vocab"], merges=merges, model_max_length=32)


def _flag_everything_checker() -> tuple[object, object]:
    """diffusers' own safety checker, tiny, with its concept thresholds set below any
    similarity: it flags every image, so a test can see flagged images withheld."""
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPConfig, CLIPImageProcessor

    tower = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={**tower, "num_hidden_layers": 1},
        vision_config={**tower, "num_hidden_layers": 1, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-1.0)
        checker.special_care_embeds_weights.fill_(-1.0)
    features = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return checker, features


def build_tiny_sd(out: Path, *, seed: int = 0, flag_everything: bool = False) -> Path:
    torch.manual_seed(seed)
    tokenizer = _clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=32,
            bos_token_id=tokenizer.convert_tokens_to_ids(BOS),
            eos_token_id=tokenizer.convert_tokens_to_ids(EOS),
            pad_token_id=tokenizer.convert_tokens_to_ids(EOS),
        )
    )
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
        attention_head_dim=4,
    )
    # Four blocks: latents are 1/8 of the image, as in real Stable Diffusion.
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=64,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if flag_everything:
        checker, features = _flag_everything_checker()
        pipe.register_modules(safety_checker=checker, feature_extractor=features)
    pipe.save_pretrained(out)
    return out
