"""The offline poet by default: centos, poems made of public-domain lines (`worker.cento`).

A /poem is composed from lines of the Gutenberg Poetry Corpus fitted to its form, every line
credited in the result's note ("Gutenberg Poetry Corpus, line N": the corpus has no book or
author metadata). Other text commands (story, script, brainstorm, ...) cannot be made of
verse lines: they go to the `fallback` generator (the generative poet) when there is one.
No torch here: the index is plain Python, loaded once (cached on disk after its first build).

When the generative poet is there, it is also the judge of flow: each poem is drawn as several
candidates (ATELIER_CENTO_CANDIDATES, default 4) and the one the poet reads as most fluent
(highest mean log-probability per token) is kept. Each request's candidates are scored
together and apart from other jobs, so a batch never changes a poem.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from bot.jobs import Job, JobKind
from worker.cento.compose import CREDIT, Composer
from worker.cento.index import load_index
from worker.generators.base import Generator, Output, ProgressFn
from worker.generators.text_lm import with_form

NO_FALLBACK = (
    "This installation writes only poems (centos from public-domain lines); "
    "set ATELIER_TEXT_MODEL to a model for stories, scripts and the rest."
)


DEFAULT_CANDIDATES = 4


def candidates_setting() -> int:
    """ATELIER_CENTO_CANDIDATES: candidates drawn per poem for the fluency judge (1: none)."""
    value = os.environ.get("ATELIER_CENTO_CANDIDATES", "")
    return max(1, int(value)) if value.strip() else DEFAULT_CANDIDATES


def index_limit() -> int | None:
    """ATELIER_CENTO_LINES: index only the corpus's first N rows (tests); unset: all."""
    value = os.environ.get("ATELIER_CENTO_LINES", "")
    return int(value) if value.strip() else None


class CentoGenerator:
    kind = JobKind.TEXT
    name = f"{CREDIT} lines"
    model_id = "cento"
    device = "cpu"

    def __init__(
        self,
        fallback: Generator | None = None,
        *,
        limit: int | None = None,
        candidates: int | None = None,
    ) -> None:
        self.fallback = fallback
        self.limit = limit if limit is not None else index_limit()
        self.candidates = candidates if candidates is not None else candidates_setting()
        self.composer: Composer | None = None

    @property
    def judge(self) -> Callable[[Sequence[str]], list[float]] | None:
        """The fallback poet's fluency score, when there is a poet that can score."""
        score = getattr(self.fallback, "fluency", None)
        return score if callable(score) and self.candidates > 1 else None

    def load(self) -> None:
        self.composer = Composer(load_index(self.limit))
        if self.fallback is not None:
            self.fallback.load()

    def warmup(self) -> None:
        if self.fallback is not None:
            self.fallback.warmup()

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        poems = [j for j, job in enumerate(jobs) if job.command == "poem"]
        others = [j for j in range(len(jobs)) if j not in poems]
        outputs: list[Output] = [Output() for _ in jobs]
        for j in poems:
            outputs[j] = self.poem(jobs[j])
        if others and self.fallback is not None:
            made = self.fallback.generate([jobs[j] for j in others], progress)
            for j, out in zip(others, made, strict=True):
                outputs[j] = out
        elif others:
            for j in others:
                outputs[j] = Output(error=NO_FALLBACK)
        return outputs

    def poem(self, job: Job) -> Output:
        if self.composer is None:
            raise RuntimeError("CentoGenerator.generate before load")
        form = str(job.options.get("form", "free"))
        mood = str(job.options.get("mood", "") or "")
        drafts = [
            self.composer.compose(form, job.prompt, mood, seed=job.seed, variant=k)
            for k in range(self.candidates if self.judge else 1)
        ]
        cento, judged = drafts[0], ""
        if self.judge is not None:
            scores = self.judge([d.text for d in drafts])
            best = max(range(len(drafts)), key=lambda k: (scores[k], -k))
            cento = drafts[best]
            judged = f" The most fluent of {len(drafts)} drafts to the bundled poet."
        settings = dict(job.options)
        settings["sources"] = cento.sources
        if judged:
            settings["candidates"] = len(drafts)
        out = with_form(job, Output(cento.text, settings))
        credit = f"Lines from the {CREDIT}: {cento.sources}.{judged}"
        out.note = f"{out.note}\n{credit}" if out.note else credit
        return out
