# ruff: noqa: F811  (pytest fixtures imported from the melody generator tests)
"""Metre-keeping decoding with the bundled melody model: the guide's masks on real tokens, the
same melody alone and in a batch of mixed metres, and bars that need no length repair."""

from __future__ import annotations

import math

import torch

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Job, Origin
from tests.worker.generators.test_music_generator import melody, one_thread  # noqa: F401 (fixtures)
from worker.decoding.bars import BarGuide, token_texts
from worker.generators.melody_abc import MelodyGenerator
from worker.models import bundled_melody
from worker.music.bars import Metre
from worker.training.melody_eval import bar_repairs


def job(n: int, text: str) -> Job:
    origin = Origin(platform="console", route="console:music", delivery_id=f"metre-{n}")
    return build_job(parse(text), origin)


def test_the_guide_masks_notes_past_the_bar_and_wants_a_bar_line(
    melody: MelodyGenerator,
) -> None:
    tok = melody.tokenizer
    texts = token_texts(tok)
    ids = {t: texts.index(t) for t in ("c", "cd", "cBA", "|", " |", "d")}
    common, jig = Metre("G", "C", "1/8"), Metre("D", "6/8", "1/8")
    prompt = tok(["X:1\nM:C\nK:G\nGABc d2", "X:1\nM:6/8\nK:D\n"], return_tensors="pt", padding=True)
    width = prompt["input_ids"].shape[1]
    guide = BarGuide(tok, metres=[common, jig], bodies=["GABc d2", "| dBA"], prompt_length=width)
    scores = torch.full((2, len(tok)), -20.0)
    for token in ids.values():
        scores[:, token] = 5.0
    out = guide(prompt["input_ids"], scores.clone())
    # 4/4: six units used, so `c` and `cd` fit, `cBA` (three more) does not; a bar line would
    # close a short bar.
    assert math.isfinite(out[0, ids["c"]]) and math.isfinite(out[0, ids["cd"]])
    assert out[0, ids["cBA"]] == float("-inf")
    assert out[0, ids["|"]] == float("-inf") and out[0, ids[" |"]] == float("-inf")
    # 6/8, `| dBA` (not a first-bar pickup): anything fits but a bar line.
    assert math.isfinite(out[1, ids["cBA"]]) and out[1, ids["|"]] == float("-inf")

    # The rows go on with `cd` and `d`: the 4/4 bar is full, so only a bar line may follow.
    step = torch.tensor([[ids["cd"]], [ids["d"]]])
    out = guide(torch.cat([prompt["input_ids"], step], dim=1), scores.clone())
    assert guide.rows == ["GABc d2cd", "| dBAd"]
    assert out[0, ids["c"]] == float("-inf") and out[0, ids["d"]] == float("-inf")
    assert math.isfinite(out[0, ids["|"]]) and math.isfinite(out[0, ids[" |"]])
    assert math.isfinite(out[1, ids["cd"]]) and out[1, ids["|"]] == float("-inf")  # 4 of 6
    assert out[1, ids["cBA"]] == float("-inf")


def test_a_melody_is_the_same_alone_and_in_a_batch_of_mixed_metres(
    melody: MelodyGenerator,
) -> None:
    reel = job(1, "/melody a hornpipe on the quay key:D length:8 seed:21")
    jig = job(2, "/melody a jig for the harvest length:8 seed:22")
    waltz = job(3, "/melody a slow waltz key:Em length:8 seed:23")
    batched = melody.generate([jig, reel, waltz])
    [alone] = melody.generate([reel])
    assert not alone.error and batched[1].text == alone.text
    assert batched[1].files == alone.files
    assert "M:C\n" in alone.text and "M:6/8" in batched[0].text and "M:3/4" in batched[2].text


def test_bodies_need_far_fewer_bar_repairs_with_the_guide() -> None:
    """Same seeds, same model: the old path repairs a large share of its bars, the guided one
    almost none."""
    path = bundled_melody()
    assert path is not None
    styles = ("hornpipe", "waltz", "jig")
    jobs = [
        job(10 + n, f"/melody a {styles[n % 3]} at dusk key:{'GDA'[n % 3]} length:8 seed:{n}")
        for n in range(9)
    ]
    shares = {}
    for keep in (False, True):
        gen = MelodyGenerator(str(path), device="cpu", keep_metre=keep)
        gen.load()
        outputs = gen.generate(jobs)
        assert all(not out.error for out in outputs)
        counts = [bar_repairs(j, body) for j, body in zip(jobs, gen.chosen, strict=True)]
        shares[keep] = sum(w for w, _, _ in counts) / sum(n for _, n, _ in counts)
    assert shares[False] > 0.3  # the old path: many bars filled or trimmed
    assert shares[True] < 0.05 and shares[True] < shares[False]
