"""Training on a tiny corpus: tokenizer round trip, loss goes down, resume retraces an
uninterrupted run, and the saved model loads through the worker's own generator."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.support.tiny_models import SAMPLE_LINES
from worker.training.data import batch_at, encode_lines
from worker.training.tokenizer import train_tokenizer
from worker.training.train import TrainConfig, train

LINES = list(SAMPLE_LINES) * 4


def tiny(out: Path, **overrides: object) -> TrainConfig:
    base: dict[str, object] = dict(
        out=out,
        layers=1,
        width=32,
        heads=2,
        context=32,
        vocab_size=300,
        batch_size=4,
        tokens=4 * 32 * 12,
        lr=3e-3,
        min_lr=3e-4,
        warmup=2,
        eval_every=4,
        eval_windows=4,
        checkpoint_every=6,
        precision="fp32",
        save_dtype="fp32",
    )
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_tokenizer_keeps_newlines_as_their_own_token() -> None:
    tok = train_tokenizer(LINES, vocab_size=300)
    text = "The lantern hums\nbeneath a copper sky.\n\nRain keeps time."
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text
    newline = tok.encode("\n", add_special_tokens=False)
    assert len(newline) == 1 and ids.count(newline[0]) == 3
    assert tok.eos_token == tok.pad_token == "<|endoftext|>"


def test_batches_are_a_pure_function_of_seed_and_step() -> None:
    tok = train_tokenizer(LINES, vocab_size=300)
    tokens = encode_lines(tok, LINES)
    a = batch_at(tokens, seed=1, step=5, batch_size=3, context=8)
    b = batch_at(tokens, seed=1, step=5, batch_size=3, context=8)
    c = batch_at(tokens, seed=1, step=6, batch_size=3, context=8)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert torch.equal(a[0][:, 1:], a[1][:, :-1])  # targets are the inputs shifted by one


def test_a_few_steps_lower_the_loss(tmp_path: Path) -> None:
    summary = train(tiny(tmp_path / "m"), LINES, LINES[:40], log=lambda _: None)
    first, last = summary.history[0], summary.history[-1]
    assert last["val_loss"] < first["val_loss"]
    assert (tmp_path / "m" / "model.safetensors").exists()
    assert (tmp_path / "m" / "training.json").exists()


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = train(tiny(tmp_path / "whole"), LINES, LINES[:40], log=lambda _: None)
    # Stop halfway (the run's checkpoint at step 6), then resume to the end.
    paused = train(tiny(tmp_path / "split"), LINES, LINES[:40], log=lambda _: None, stop_at=5)
    assert paused.steps == 5 and not (tmp_path / "split" / "model.safetensors").exists()
    resumed = train(tiny(tmp_path / "split"), LINES, LINES[:40], log=lambda _: None)
    assert resumed.train_loss == whole.train_loss
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_trained_model_serves_through_the_worker(tmp_path: Path) -> None:
    from bot.commands.build import build_job
    from bot.commands.parse import parse
    from bot.jobs import Origin
    from worker.generators.text_lm import TextGenerator

    train(tiny(tmp_path / "poet"), LINES, LINES[:40], log=lambda _: None)
    gen = TextGenerator(str(tmp_path / "poet"), device="cpu")
    gen.load()
    job = build_job(
        parse("/poem the lantern seed:3 form:couplet"),
        Origin(platform="console", route="r", delivery_id="d-1"),
    )
    [out] = gen.generate([job])
    assert out.text and not out.error


def test_train_and_eval_commands_on_a_community_folder(tmp_path: Path) -> None:
    """`atelier train` then `atelier eval` as a user runs them, on a local folder of text."""
    import subprocess

    from tests.conftest import atelier_cmd, atelier_env

    corpus = tmp_path / "our-writing"
    corpus.mkdir()
    poems = [f"{line} ({n})" for n in range(12) for line in SAMPLE_LINES]
    (corpus / "poems.txt").write_text("\n".join(poems) + "\n")
    env = atelier_env(None, "unused:", None, ATELIER_CACHE_DIR=str(tmp_path / "cache"))
    model = tmp_path / "our-poet"
    args = [
        "--out",
        str(model),
        "--corpus",
        str(corpus),
        "--layers",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--context",
        "32",
        "--vocab-size",
        "300",
        "--batch-size",
        "4",
        "--tokens",
        "1280",
        "--eval-every",
        "5",
        "--precision",
        "fp32",
    ]
    done = subprocess.run(
        atelier_cmd("train", *args), env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trained 10 steps" in done.stdout
    done = subprocess.run(
        atelier_cmd(
            "eval",
            str(model),
            "--corpus",
            str(corpus),
            "--forms",
            "haiku,limerick",
            "--requests",
            "2",
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bits/char" in done.stdout
    card = (model / "README.md").read_text()
    assert "bits per character" in card and "atelier eval" in card and "## Samples" in card
    assert "## Form accuracy" in card and "| haiku |" in card and "| limerick |" in card
    assert "| haiku |" in done.stdout  # the table is printed too


def test_resume_refuses_a_checkpoint_of_a_different_run(tmp_path: Path) -> None:
    import pytest

    train(tiny(tmp_path / "m"), LINES, LINES[:40], log=lambda _: None, stop_at=3)
    with pytest.raises(ValueError, match="different tokens"):
        train(tiny(tmp_path / "m", tokens=4 * 32 * 20), LINES, LINES[:40], log=lambda _: None)
