"""Moderation in the worker loop against a real Redis: text results withheld by the built-in
list, and the moderation classifier (a tiny real text-classification model, or an import
path hook) on prompts before generating and on results after. A flagged job ends with the
reason, is never retried, and is noted for the server's moderators.

The text generator here writes a fixed line per seed, so a test can choose what a result
says; the moderation under test is the worker's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.desk.moderation import ModLog
from bot.desk.server_settings import SettingsStore
from bot.errors import ConfigError
from bot.jobs import Job, JobKind, Origin, Result, load_result
from bot.queue.streams import JobQueue
from tests.support.admission import admit
from tests.support.tiny_classifier import build_tiny_classifier
from worker.generators.base import Output, ProgressFn
from worker.loop import Worker
from worker.moderation import ModelClassifier, TextClassifier, classifier_from

ROUTE = "console:safety-worker"
LINES = {
    1: "A quiet harbour folds the dusk away.",
    2: "The lantern hums, the l0licon sleeps.",  # the built-in list's minors category
    3: "A lantern swings above the tide.",
}


class LineWriter:
    """A text generator that writes LINES[seed] and counts its calls."""

    kind = JobKind.TEXT
    name = "line writer"
    model_id = "line-writer"
    device = "cpu"

    def __init__(self) -> None:
        self.calls = 0

    def load(self) -> None:
        pass

    def warmup(self) -> None:
        pass

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        self.calls += 1
        return [Output(text=LINES[job.seed]) for job in jobs]


def flag_lanterns(text: str) -> tuple[bool, str]:
    """An import-path hook (`tests.worker.test_safety_worker:flag_lanterns`)."""
    return ("lantern" in text.lower(), "lanterns are off-topic here")


def poem(n: int, seed: int, prompt: str = "the harbour") -> Job:
    origin = Origin(
        platform="discord",
        route=ROUTE,
        user_id="u7",
        user_name="bea",
        guild_id="g1",
        delivery_id=f"sw-{n}",
    )
    return build_job(parse(f"/poem {prompt} seed:{seed}"), origin)


async def run_jobs(
    queue: JobQueue, jobs: list[Job], classifier: TextClassifier | None = None
) -> tuple[dict[str, Result], LineWriter]:
    await SettingsStore(queue.redis, keys=queue.keys).set(
        "discord", "g1", "moderation_log_channel", "#MODS"
    )
    for job in jobs:
        await admit(queue, job)
    writer = LineWriter()
    worker = Worker(queue, [writer], heartbeat_s=0.5, backoff_s=0.05, classifier=classifier)
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 60
    try:
        while True:
            entries = await queue.redis.xrange(queue.keys.results(ROUTE))
            results = [load_result(f["data"]) for _, f in entries if f["type"] == "result"]
            if len(results) >= len(jobs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=30)
    return {r.job_id: r for r in results}, writer


@pytest.fixture(scope="module")
def flagging_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("models") / "clf-flags", flags=True)


@pytest.fixture(scope="module")
def passing_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("models") / "clf-passes", flags=False)


async def test_a_text_result_on_the_built_in_list_is_withheld_with_the_reason(
    queue: JobQueue,
) -> None:
    clean, listed = poem(1, 1), poem(2, 2)
    results, _ = await run_jobs(queue, [clean, listed])
    assert results[clean.id].ok and results[clean.id].text == LINES[1]
    stopped = results[listed.id]
    assert not stopped.ok and stopped.text == "" and stopped.attempts == 1
    assert stopped.error.startswith("The piece was withheld: it matches the built-in list")
    assert "sexual content involving minors" in stopped.error and "Regenerate" in stopped.error
    [(channel, note)] = await ModLog(queue.redis, keys=queue.keys).take("discord")
    assert channel == "MODS"
    assert note.startswith("Atelier withheld a result: /poem by bea (u7).")
    assert "l0licon" not in note and "Excerpt" not in note  # never for the minors category
    assert await queue.redis.xlen(queue.keys.dead) == 0


async def test_a_prompt_the_classifier_flags_ends_before_generating_and_is_not_retried(
    queue: JobQueue, flagging_model: Path
) -> None:
    job = poem(1, 1)
    classifier = ModelClassifier(str(flagging_model), labels=["unsafe"], threshold=0.9)
    results, writer = await run_jobs(queue, [job], classifier)
    refused = results[job.id]
    assert not refused.ok and refused.attempts == 1 and writer.calls == 0
    assert refused.error == (
        "Your prompt was refused: the moderation classifier flagged it (unsafe 1.00). "
        "Rephrase it and try again."
    )
    assert await queue.redis.xlen(queue.keys.dead) == 0
    assert await queue.depth(JobKind.TEXT) == 0
    [(_, note)] = await ModLog(queue.redis, keys=queue.keys).take("discord")
    assert (
        "refused a prompt: /poem by bea" in note and "moderation classifier (unsafe 1.00)" in note
    )


async def test_a_classifier_that_passes_lets_the_piece_through(
    queue: JobQueue, passing_model: Path
) -> None:
    jobs = [poem(1, 1), poem(2, 3, "lanterns")]
    classifier = ModelClassifier(str(passing_model), labels=["unsafe"])
    results, writer = await run_jobs(queue, jobs, classifier)
    assert all(results[j.id].ok for j in jobs) and writer.calls >= 1
    assert results[jobs[1].id].text == LINES[3]
    assert await ModLog(queue.redis, keys=queue.keys).take("discord") == []


async def test_an_import_path_hook_checks_prompts_and_results(queue: JobQueue) -> None:
    hook = classifier_from("tests.worker.test_safety_worker:flag_lanterns")
    assert hook is not None
    by_prompt = poem(1, 1, "a red lantern")  # refused before generating
    by_result = poem(2, 3, "the tide")  # its line mentions a lantern: withheld after
    clean = poem(3, 1, "the tide")
    results, _ = await run_jobs(queue, [by_prompt, by_result, clean], hook)
    assert results[by_prompt.id].error.startswith("Your prompt was refused: the moderation")
    assert "lanterns are off-topic here" in results[by_prompt.id].error
    assert results[by_result.id].error.startswith("The piece was withheld: the moderation")
    assert results[by_result.id].text == "" and results[clean.id].ok
    notes = [text for _, text in await ModLog(queue.redis, keys=queue.keys).take("discord")]
    assert sorted(n.split(":")[0] for n in notes) == [
        "Atelier refused a prompt",
        "Atelier withheld a result",
    ]


def test_a_classifier_setting_that_cannot_work_says_what_to_fix(
    tmp_path: Path, passing_model: Path
) -> None:
    with pytest.raises(ConfigError, match="neither a model directory nor an import path"):
        classifier_from(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot import it"):
        classifier_from("no_such_module_here:check").load()  # type: ignore[union-attr]
    wrong_labels = ModelClassifier(str(passing_model), labels=["toxic"])
    with pytest.raises(ConfigError, match="ATELIER_MODERATION_LABELS"):
        wrong_labels.load()
    assert classifier_from(None) is None and classifier_from("") is None


def test_the_environment_names_the_classifier_the_worker_gets(
    monkeypatch: pytest.MonkeyPatch, queue: JobQueue, flagging_model: Path
) -> None:
    from bot.cli import _build_worker
    from bot.config import load_settings

    monkeypatch.setenv("ATELIER_MODERATION_CLASSIFIER", str(flagging_model))
    monkeypatch.setenv("ATELIER_MODERATION_LABELS", "Unsafe, toxic")
    monkeypatch.setenv("ATELIER_MODERATION_THRESHOLD", "0.8")
    monkeypatch.setenv("ATELIER_DEVICE", "cpu")
    settings = load_settings(image_model=None)
    worker = _build_worker(settings, queue, "image", 4, 1, "w-env")
    assert isinstance(worker.classifier, ModelClassifier)
    assert worker.classifier.labels == {"unsafe", "toxic"} and worker.classifier.threshold == 0.8
    monkeypatch.setenv("ATELIER_MODERATION_CLASSIFIER", "")
    assert _build_worker(load_settings(), queue, "image", 4, 1, "w-none").classifier is None
