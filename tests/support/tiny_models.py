"""Tiny real transformers models built offline from configs (random weights).

Tests save them to a directory so the worker loads them with
AutoTokenizer / AutoModelForCausalLM.from_pretrained(dir) exactly like real models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

EOS = "<|endoftext|>"

SAMPLE_LINES: tuple[str, ...] = (
    "The lantern hums beneath a copper sky.",
    "Salt wind folds the evening into paper cranes.",
    "A heron writes its name across the shallows.",
    "We painted the gate the color of late plums.",
    "Rain keeps the rhythm of a patient clock.",
    "Moss remembers every footstep on the stair.",
    "The kettle sings of mountains it has never seen.",
    "Ink pools gather where the brush forgot to lift.",
    "A fox of embers curls inside the hearth.",
    "Blue hour pours slowly through the open window.",
    "The orchard sleeps with apples in its hands.",
    "Chalk stars fade on the schoolyard wall.",
    "My shadow borrows the shape of a willow.",
    "Lighthouse beams comb the tangled tide.",
    "Snow settles like a hush on the piano keys.",
    "The river stitches two towns with silver thread.",
    "Bright gulls argue over a crust of sun.",
    "A violin case holds a folded summer.",
    "The clay bowl still smells of the kiln.",
    "Thunder rolls its barrels down the valley.",
    "Glass beads of dew string the spider's loom.",
    "We counted freight cars under the amber light.",
    "The canvas waits, white as a held breath.",
    "Charcoal smudges bloom into a crow.",
    "Old maps curl their edges toward the fire.",
    "Petals drift like small boats on the pond.",
    "A brass bell shivers in the temple yard.",
    "The quiet marsh reflects a crooked moon.",
    "Fern shadows flicker on the cabin floor.",
    "Wool clouds graze above the granite ridge.",
    "The painter mixes dusk from rust and violet.",
    "An owl unrolls the scroll of midnight.",
    "Cold tea glows in a cracked porcelain cup.",
    "Sparrows stitch the hedge with restless song.",
    "The tide returns what the harbor lent it.",
    "Warm bread steams beside a window of frost.",
    "Lichen maps an island on the boulder.",
    "A kite tugs gently at the edge of June.",
    "Candle wax spills a pale and tiny glacier.",
    "The meadow hums a tune of clover and bees.",
    "Iron rails hold the shimmer of noon.",
    "Her sketchbook smells of cedar and rain.",
    "The garden gate creaks a familiar greeting.",
    "Foxglove leans to whisper to the wall.",
    "A paper boat sails the gutter to the sea.",
    "Green light trembles under the linden tree.",
    "The pottery wheel spins a quiet planet.",
    "Dusk sews buttons of light on every street.",
    "Pine resin glitters on the broken bough.",
    "Two crows debate the weather on a wire.",
    "The gallery echoes with soft careful steps.",
    "Watercolor skies bleed into the margins.",
    "A cello sighs behind the bakery door.",
    "Frost engraves ferns on the morning glass.",
    "The harbor lamps blink like sleepy eyes.",
    "Cinnamon dust drifts over the wooden table.",
    "A lone canoe parts the mirror of the lake.",
    "Wild thyme crowds the cracks between the stones.",
    "The comet drags its veil across the hills.",
    "Line after line, the poem finds its home.",
)

# Minimal chat template: role headers, EOS closing each turn, optional assistant prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}"
    + EOS
    + "\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on SAMPLE_LINES; same vocab_size gives the same vocab."""
    tok = Tokenizer(models.BPE())
    # No prefix space, so decode(encode(text)) == text exactly.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # Full byte alphabet: any text (incl. "\n", emoji) encodes without unknowns.
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(SAMPLE_LINES, trainer=trainer)
    # One token plays bos/eos/pad/unk, as in GPT-2, so left padding needs no extra token.
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS, unk_token=EOS
    )


def _special_ids(tok: PreTrainedTokenizerFast) -> dict[str, Any]:
    # Passed to the config constructor: GPT2Config's default 50256 would warn for a 512 vocab.
    eos = tok.eos_token_id
    return {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos}


def _build_and_save(
    config: PretrainedConfig,
    model_cls: type[PreTrainedModel],
    tok: PreTrainedTokenizerFast,
    path: str | Path,
    seed: int,
    stops: bool = True,
) -> Path:
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = model_cls(config)
    # Explicit generation config (not "_from_model_config"): generate() reads EOS only from it,
    # so eos None never stops early while config.json keeps the normal eos id.
    ids = _special_ids(tok) | ({} if stops else {"eos_token_id": None})
    model.generation_config = GenerationConfig(**ids)  # type: ignore[no-untyped-call]
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out)  # v5 always writes model.safetensors (no safe_serialization flag)
    return out


def build_tiny_gpt2(
    path: str | Path,
    *,
    layers: int = 2,
    width: int = 64,
    heads: int = 2,
    n_positions: int = 512,
    seed: int = 0,
    stops: bool = True,
) -> Path:
    """Save a random-weight GPT-2; stops=False makes generate() always run to max_new_tokens."""
    tok = build_tokenizer()
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=n_positions,
        n_embd=width,
        n_layer=layers,
        n_head=heads,
        **_special_ids(tok),
    )
    return _build_and_save(config, GPT2LMHeadModel, tok, path, seed, stops)


def build_tiny_llama_chat(
    path: str | Path, *, layers: int = 2, width: int = 64, heads: int = 4, seed: int = 0
) -> Path:
    """Save a random-weight Llama plus a tokenizer carrying a Jinja chat_template."""
    tok = build_tokenizer()
    tok.chat_template = CHAT_TEMPLATE  # v5 saves it as chat_template.jinja
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=512,
        **_special_ids(tok),
    )
    return _build_and_save(config, LlamaForCausalLM, tok, path, seed)
