"""A byte-level BPE tokenizer for poetry, trained with the `tokenizers` library.

A newline is split off before byte-level encoding, so it is always a token of its own: line
breaks are the form of a poem and the model (and later the form-keeping decoder) must see
each one as one step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 8192) -> PreTrainedTokenizerFast:
    """Train on an iterable of text chunks; `<|endoftext|>` is bos, eos, pad and unk."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_chunks(texts), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS, unk_token=EOS
    )
    return wrapped


def _chunks(texts: Iterable[str], size: int = 1000) -> Iterator[str]:
    """Feed the trainer chunks of lines (joined by newlines) rather than one huge string."""
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= size:
            yield "\n".join(batch)
            batch = []
    if batch:
        yield "\n".join(batch)
