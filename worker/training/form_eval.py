"""Form accuracy (`atelier eval --forms`): seeded poem requests through the worker's own text
generator, each checked by `bot.commands.poetic_forms`, with the CPU time each form takes.

Each poem is also heard by a second ear (`worker.training.second_ear`, espeak-ng): the decoder
steers by the checker's own dictionary, so its figures alone could flatter it. Without
espeak-ng the second ear's figures are None and the table says it was not heard."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pronouncing

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.commands.poetic_forms import form_problems
from bot.jobs import Origin
from worker.cento.index import content_stems, words
from worker.generators.base import Generator
from worker.generators.text_lm import TextGenerator
from worker.training import second_ear

FORM_TOPICS = (
    "the sea at dusk",
    "winter light",
    "an old city",
    "the first rain",
    "a lantern in the orchard",
    "moon over water",
    "bread and salt",
    "the last train home",
)
DEFAULT_FORMS = ("haiku", "limerick", "sonnet")


@dataclass
class FormScore:
    form: str
    met: int
    requests: int
    seconds_per_poem: float  # wall time per poem, batched as the worker batches
    batch_size: int
    candidates: int
    example: str
    first_failure: str
    second_met: int | None = None  # met to espeak-ng's ear; None: espeak-ng is not installed
    in_dictionary: int = 0  # poems whose every word the CMU dictionary knows
    on_topic: int = 0  # poems holding a word of the topic (or of its family: "seas", "sea's")

    @property
    def rate(self) -> float:
        return self.met / max(self.requests, 1)

    @property
    def second_rate(self) -> float | None:
        return None if self.second_met is None else self.second_met / max(self.requests, 1)


def evaluate_forms(
    model_dir: Path,
    *,
    forms: tuple[str, ...] = DEFAULT_FORMS,
    requests: int = 100,
    batch_size: int = 16,
    candidates: int = 2,
    device: str = "cpu",
    log: object = None,
) -> list[FormScore]:
    """`requests` seeded /poem requests per form (seeds 0..n-1, topics in turn)."""
    gen = TextGenerator(str(model_dir), device=device, candidates=candidates)
    gen.load()
    gen.warmup()
    return score_forms(
        gen, forms=forms, requests=requests, batch_size=batch_size, candidates=candidates, log=log
    )


def score_forms(
    gen: Generator,
    *,
    forms: tuple[str, ...] = DEFAULT_FORMS,
    requests: int = 100,
    batch_size: int = 16,
    candidates: int = 1,
    log: object = None,
) -> list[FormScore]:
    """The measure itself, for any loaded text generator (the cento poet included)."""
    scores = []
    for form in forms:
        jobs = [
            build_job(
                parse(f"/poem {FORM_TOPICS[i % len(FORM_TOPICS)]} form:{form} seed:{i}"),
                Origin(platform="eval", route="eval", delivery_id=f"{form}-{i}"),
            )
            for i in range(requests)
        ]
        met, example, failure = 0, "", ""
        texts = []
        started = time.perf_counter()
        for at in range(0, len(jobs), batch_size):
            batch = jobs[at : at + batch_size]
            for job, out in zip(batch, gen.generate(batch), strict=True):
                texts.append(out.text)
                problems = form_problems(job.command, job.options, job.prompt, out.text)
                if problems == ():
                    met += 1
                    example = example or out.text
                elif not failure:
                    failure = f"{out.text}\n({'; '.join(problems or ())})"
            if callable(log):
                log(f"{form}: {min(at + batch_size, len(jobs))}/{len(jobs)}, {met} met")
        took = time.perf_counter() - started
        heard = second_met(form, texts)
        topics = [FORM_TOPICS[i % len(FORM_TOPICS)] for i in range(len(texts))]
        scores.append(
            FormScore(
                form,
                met,
                len(jobs),
                round(took / max(len(jobs), 1), 3),
                batch_size,
                candidates,
                example,
                failure,
                heard,
                sum(all(pronouncing.phones_for_word(w) for w in words(t)) for t in texts),
                sum(
                    bool(set(content_stems(topic)) & set(content_stems(t)))
                    for topic, t in zip(topics, texts, strict=True)
                ),
            )
        )
    return scores


def second_met(form: str, texts: list[str]) -> int | None:
    """How many of the poems espeak-ng hears as `form`; None without espeak-ng."""
    if not second_ear.available():
        return None
    return sum(bool(second_ear.meets(form, text)) for text in texts)


SECOND_EAR_MISSING = (
    "espeak-ng is not installed, so the second ear did not listen: the figures are the "
    "CMUdict checker's alone (apt-get install espeak-ng to hear both)"
)


def as_json(scores: list[FormScore]) -> dict[str, dict[str, object]]:
    return {
        s.form: {
            **asdict(s),
            "rate": round(s.rate, 3),
            "second_rate": None if s.second_rate is None else round(s.second_rate, 3),
        }
        for s in scores
    }


def form_table(scores: list[FormScore]) -> list[str]:
    """Our checker's figures and the second ear's, side by side."""
    lines = [
        "| form | requests | met (CMUdict checker) | met (espeak-ng ear) | all words in "
        "CMUdict | on topic | seconds per poem (CPU) | batch | candidates |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in scores:
        heard = "not heard" if s.second_met is None else f"{s.second_met} ({s.second_rate:.0%})"
        n = max(s.requests, 1)
        lines.append(
            f"| {s.form} | {s.requests} | {s.met} ({s.rate:.0%}) | {heard} "
            f"| {s.in_dictionary / n:.0%} | {s.on_topic / n:.0%} "
            f"| {s.seconds_per_poem:.2f} | {s.batch_size} | {s.candidates} |"
        )
    if any(s.second_met is None for s in scores):
        lines += ["", SECOND_EAR_MISSING]
    return lines


def write_form_figures(model_dir: Path, scores: list[FormScore], *, command: str) -> None:
    """Add the figures to eval.json and a "Form accuracy" section to the model card."""
    import json

    figures = model_dir / "eval.json"
    data = json.loads(figures.read_text()) if figures.exists() else {}
    data["forms"] = as_json(scores)
    data["forms_command"] = command
    figures.write_text(json.dumps(data, indent=2) + "\n")
    card = model_dir / "README.md"
    if not card.exists():
        return
    section = [
        "## Form accuracy",
        "",
        "Seeded `/poem` requests through the worker's text generator (form-keeping decoding "
        "and best-of-N), each checked by the form checker (CMUdict) and heard again by "
        "espeak-ng (`worker/training/second_ear.py`). A poem counts only if the ear confirms "
        "every rule of its form.",
        "",
        *form_table(scores),
        "",
        f"Measured with `{command}`.",
        "",
    ]
    text = card.read_text()
    start = text.find("## Form accuracy")
    if start != -1:
        end = text.find("\n## ", start + 1)
        text = text[:start] + text[end + 1 :] if end != -1 else text[:start]
    limits = text.find("## Limits")
    at = limits if limits != -1 else len(text)
    card.write_text(text[:at] + "\n".join(section) + "\n" + text[at:])
