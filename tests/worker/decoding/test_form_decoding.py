"""Form-keeping decoding: the masks on the bundled poet's real vocabulary (syllable spans,
rhyme, whole words, acrostic initials, the end of the poem), best-of-N picking among
candidates, and seeded poems from the bundled poet that meet their forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.commands.poetic_forms import check, line_syllables
from bot.jobs import Job, Origin
from worker.decoding.forms import FormGuide, FormPlan, Vocabulary, plan_for
from worker.generators.text_lm import TextGenerator, candidate_seed
from worker.models import bundled_poet

POET = bundled_poet()


def poem(text: str, n: int = 1) -> Job:
    return build_job(parse(text), Origin(platform="console", route="r", delivery_id=f"f-{n}"))


@pytest.fixture(scope="module")
def guide() -> FormGuide:
    assert POET is not None
    tokenizer = AutoTokenizer.from_pretrained(POET)
    return FormGuide(tokenizer, Vocabulary(tokenizer), [], prompt_length=0)


def allowed(guide: FormGuide, plan: FormPlan, text: str) -> set[str]:
    """The token texts the guide allows after `text` (a poem so far)."""
    ok = (~guide.banned(plan, text)).nonzero().flatten().tolist()
    return {guide.vocab.texts[i] for i in ok}


def test_plans() -> None:
    assert plan_for("haiku", "the sea") == FormPlan(3, ((5, 5), (7, 7), (5, 5)))
    sonnet = plan_for("sonnet", "love")
    assert sonnet == FormPlan(14, ((10, 10),) * 14, rhyme="ABABCDCDEFEFGG")
    limerick = plan_for("limerick", "a cat")
    assert limerick is not None and limerick.rhyme == "AABBA"
    assert max(limerick.spans[2]) < min(limerick.spans[0])  # short lines really are shorter
    acrostic = plan_for("acrostic", "moon over water")
    assert acrostic is not None and acrostic.lines == 4 and acrostic.initials == "MOON"
    assert plan_for("free", "x") is None


def test_syllable_spans_are_exact(guide: FormGuide) -> None:
    haiku = plan_for("haiku", "x")
    assert haiku is not None
    start = allowed(guide, haiku, "")
    assert "The" in start and " beautiful" in start and "\n" not in start
    # "the sea is" has 3 syllables: a 3-syllable word would overshoot 5, a 2-syllable fits.
    mid = allowed(guide, haiku, "The sea is")
    assert " beautiful" not in mid and " wandering" not in mid and " moonlight" in mid
    assert "\n" not in mid and "," in mid
    assert "ing" not in mid  # no letters glued onto a finished word by a whole-word mask
    full = allowed(guide, haiku, "The sea is so bright")
    assert "\n" in full and not any(t.strip().isalpha() for t in full)
    # The second line needs 7; the poem ends after its third line, and only then.
    assert "\n" not in allowed(guide, haiku, "The sea is so bright\nand the")
    done = allowed(guide, haiku, "The sea is so bright\nand the light of the long day\nis it")
    assert guide.vocab.texts[guide.vocab.eos] not in done
    end = guide.banned(haiku, "a b c d e\nf g h i j k l\nm n o p q\n")
    assert (~end).sum() == 1 and not bool(end[guide.vocab.eos])


def test_rhymes_steer_line_endings(guide: FormGuide) -> None:
    limerick = plan_for("limerick", "x")
    assert limerick is not None
    first = "There once was a man of the day\n"
    # Line 2 (an A line, 8 to 10 syllables) at 7: any word may go on, a rhyme may end it.
    going = allowed(guide, limerick, first + "Who walked by the sea in the")
    assert {" way", " play", " night", " day"} <= going
    # At 9, a one-syllable word fills the line: only a rhyme, and not "day" again.
    near_end = allowed(guide, limerick, first + "Who walked by the cold sea all of the")
    assert {" way", " play", " say"} <= near_end
    assert " day" not in near_end  # the same word is no rhyme
    assert " night" not in near_end  # would fill the line with no rhyme left to end it
    assert "\n" not in allowed(guide, limerick, first + "Who walked by the sea in the night")
    rhymed = allowed(guide, limerick, first + "Who walked by the sea in the way")
    assert "\n" in rhymed
    # Line 3 starts a new group: its ending word must have rhymes enough for line 4.
    b_line = first + "Who walked by the sea on his way\nHe sang to the"
    assert " night" in allowed(guide, limerick, b_line)


def test_sentencepiece_style_tokens_keep_their_leading_space() -> None:
    """Llama-style tokenizers decode "▁day" alone as "day"; the guide must still see " day"."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.support.tiny_models import SAMPLE_LINES

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "</s>"])
    raw.train_from_iterator([*SAMPLE_LINES, "\n"], trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="</s>", unk_token="<unk>")
    vocab = Vocabulary(tok)
    the = tok.convert_tokens_to_ids("▁the")
    assert tok.decode([the]) == "the" and vocab.texts[the] == " the"
    assert bool(vocab.spaced[the]) and bool(vocab.word[the])


def test_acrostic_initials(guide: FormGuide) -> None:
    acrostic = plan_for("acrostic", "moon")
    assert acrostic is not None
    second = allowed(guide, acrostic, "Moonlight on the water\n")
    assert second and all(t.lstrip()[:1].upper() == "O" for t in second)


@pytest.fixture(scope="module")
def poet() -> TextGenerator:
    assert POET is not None
    gen = TextGenerator(str(POET), device="cpu", candidates=2)
    gen.load()
    return gen


def test_the_bundled_poet_meets_haiku_and_limerick_forms(poet: TextGenerator) -> None:
    jobs = [poem(f"/poem the sea at dusk form:haiku seed:{s}", s) for s in range(8)]
    jobs += [poem(f"/poem an old city form:limerick seed:{s}", 10 + s) for s in range(4)]
    outs = poet.generate(jobs)
    for job, out in zip(jobs, outs, strict=True):
        form = str(job.options["form"])
        assert check(form, out.text).ok, (out.text, out.note)
        assert out.note == f"{form} form checked: met"
        assert out.settings["candidates"] == 2
    lines = outs[0].text.split("\n")
    assert [line_syllables(x) for x in lines] == [5, 7, 5], outs[0].text


def test_best_of_n_picks_the_first_candidate_that_meets_the_form(tiny_gpt2: Path) -> None:
    """Each candidate is the text its own seed gives alone; the pick is the first that
    meets the form, else the one with the fewest problems."""
    best = TextGenerator(str(tiny_gpt2), device="cpu", candidates=3)
    best.load()
    single = TextGenerator(str(tiny_gpt2), device="cpu", candidates=1)
    single.load()
    text = "/poem rain on the river form:limerick seed:{}"
    picked = best.generate([poem(text.format(seed), seed) for seed in range(4)])
    # Every candidate alone, all in one batch (a row's text does not depend on its batch).
    seeds = [candidate_seed(seed, k) for seed in range(4) for k in range(3)]
    alone = single.generate([poem(text.format(s), 100 + i) for i, s in enumerate(seeds)])
    for seed, out in enumerate(picked):
        texts = [o.text for o in alone[3 * seed : 3 * seed + 3]]
        reports = [check("limerick", t) for t in texts]
        met = [t for t, r in zip(texts, reports, strict=True) if r.ok]
        fewest = min(zip(texts, reports, strict=True), key=lambda p: len(p[1].problems))[0]
        assert out.text == (met[0] if met else fewest)
        assert out.note.startswith("limerick form " + ("checked: met" if met else "not met"))


def test_free_verse_is_left_alone(tiny_gpt2: Path) -> None:
    gen = TextGenerator(str(tiny_gpt2), device="cpu")
    gen.load()
    assert gen._guide([None, None], 3) is None
    outs = gen.generate([poem("/poem rain seed:1", 1)])
    assert outs[0].note == "" and "candidates" not in outs[0].settings


def test_masks_only_remove_tokens(guide: FormGuide) -> None:
    """A masked row keeps the model's own scores for every token it may still take."""
    plan = plan_for("haiku", "x")
    assert plan is not None
    ids = torch.tensor([guide.tokenizer.encode("The sea is")])
    g = FormGuide(guide.tokenizer, guide.vocab, [plan], prompt_length=0)
    logits = torch.randn(1, guide.vocab.size)
    masked = g.mask(ids, logits.clone())
    kept = masked[0] > float("-inf")
    assert torch.equal(masked[0][kept], logits[0][kept])
    assert 0 < int(kept.sum()) < guide.vocab.size
