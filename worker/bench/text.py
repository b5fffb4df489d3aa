"""`atelier bench text`: the naive bot against Atelier's worker, on the same model.

For each N (requests that arrive together, or `arrival_ms` apart), every side gets the same
N prompts with the same sampling settings and token budget:
- the naive bot answers them one by one with `transformers.pipeline("text-generation")`, the
  way most bots and the classic examples do;
- Atelier enqueues the N jobs on the real queue (Redis streams, the same `JobQueue` the
  adapters use) and an in-process worker generates and publishes the results: the
  continuous-batching `ContinuousWorker` (`atelier worker`'s default; "worker" in the
  JSON, "continuous" in the table) and, on a queue of its own, the static-batch `Worker`
  ("static").
Each request's latency runs from its arrival to its answer (the naive bot's return, the
worker's result read back from the result stream). Tokens are the ones actually generated
(up to each row's end-of-text), counted on every side the same way. The machine's matmul
peak is measured in the same run, so the worker's share of it (2 x parameters FLOPs per
generated token) is read against this machine at this moment, not a datasheet.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from redis.asyncio import Redis

from bot.benchmarks import latency_ms
from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Job, Origin, load_result
from bot.keys import Keys
from bot.queue.fairness import Fairness
from bot.queue.streams import JobQueue
from worker.bench.matmul import matmul_peak
from worker.continuous_loop import ContinuousWorker
from worker.device import resolve_device
from worker.generators.text_lm import TextGenerator
from worker.loop import Worker

TOPICS = (
    "the sea at dusk",
    "a lantern in the rain",
    "an old orchard",
    "the first snow",
    "a heron on the shallows",
    "a city at night",
    "the empty station",
    "a letter never sent",
)


@dataclass
class Side:
    """One side's run at one N."""

    tokens: int = 0
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict[str, float]:
        lat = latency_ms(self.latencies_s)
        return {
            "tokens": self.tokens,
            "wall_s": round(self.wall_s, 3),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "p50_ms": lat["p50_ms"],
            "p95_ms": lat["p95_ms"],
        }


def bench_jobs(n: int, new_tokens: int, run: str, first_tokens: int = 0) -> list[Job]:
    """N free-verse poem jobs with fixed seeds and an exact token budget (`first_tokens`, when
    set, for the first one: a long job ahead of the others)."""
    jobs = []
    for i in range(n):
        origin = Origin(platform="bench", route=f"bench:{run}", delivery_id=f"{run}-{n}-{i}")
        job = build_job(parse(f"/poem {TOPICS[i % len(TOPICS)]} seed:{1000 + i}"), origin)
        assert job.text is not None
        budget = first_tokens if i == 0 and first_tokens else new_tokens
        spec = job.text.model_copy(update={"max_new_tokens": budget})
        jobs.append(job.model_copy(update={"text": spec}))
    return jobs


def build_model(spec: str, tokenizer_from: Path, out: Path) -> Path:
    """A random-weight model from a config, saved where `from_pretrained` loads it (the same
    code path as a real model). `spec` is `gpt2:LAYERSxWIDTH`, e.g. `gpt2:12x768` (~100M
    parameters with the bundled tokenizer's vocabulary is ~12x768 plus embeddings)."""
    from transformers import AutoTokenizer, GenerationConfig, GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    arch, _, geometry = spec.partition(":")
    if arch != "gpt2" or "x" not in geometry:
        raise ValueError(f"--build takes gpt2:LAYERSxWIDTH (e.g. gpt2:12x768), not {spec!r}")
    layers, width = (int(v) for v in geometry.split("x"))
    tok = AutoTokenizer.from_pretrained(str(tokenizer_from), local_files_only=True)
    eos = tok.eos_token_id
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=1024,
        n_embd=width,
        n_layer=layers,
        n_head=max(width // 64, 1),
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    model = GPT2LMHeadModel(config)
    # Random weights never say end-of-text on purpose; keep EOS so both sides stop alike.
    model.generation_config = GenerationConfig(bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out)
    return out


def count_new(ids: Sequence[int], stops: set[int]) -> int:
    """Tokens generated before the first end-of-text or pad (the same rule on both sides)."""
    for n, token in enumerate(ids):
        if token in stops:
            return n
    return len(ids)


class NaiveBot:
    """One pipeline call per request, in arrival order (the pipeline is loaded once)."""

    def __init__(self, model_dir: Path, device: str, dtype: torch.dtype) -> None:
        from transformers import pipeline
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.pipe: Any = pipeline(
            "text-generation", model=str(model_dir), device=device, dtype=dtype
        )
        tok: Any = self.pipe.tokenizer
        self.stops = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}

    def answer(self, job: Job) -> int:
        """Generate one request; returns the tokens generated."""
        assert job.text is not None
        spec = job.text
        tok = self.pipe.tokenizer
        out = self.pipe(
            spec.completion,
            max_new_tokens=spec.max_new_tokens,
            do_sample=True,
            temperature=spec.temperature,
            top_p=spec.top_p,
            top_k=0,  # the job's own distribution (generate's default would add top-k 50)
            repetition_penalty=spec.repetition_penalty,
            return_tensors=True,
            pad_token_id=tok.pad_token_id,
        )
        prompt_len = len(tok(spec.completion)["input_ids"])
        return count_new(out[0]["generated_token_ids"][prompt_len:], self.stops)

    def round(self, jobs: Sequence[Job], arrival_s: float = 0.0) -> Side:
        """Requests arrive `arrival_s` apart (0: all at once); each one's latency runs from
        its own arrival."""
        side = Side()
        started = time.perf_counter()
        for i, job in enumerate(jobs):
            wait = started + i * arrival_s - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            side.tokens += self.answer(job)
            side.latencies_s.append(time.perf_counter() - started - i * arrival_s)
        side.wall_s = time.perf_counter() - started
        return side


def repeats_for(n: int, at_least: int = 1) -> int:
    """Small rounds run several times (at least 8 requests each side), so one unlucky
    request on a busy machine does not make the figure; `at_least` rounds in any case."""
    return max(at_least, -(-8 // n))


def merge(sides: Sequence[Side]) -> Side:
    out = Side()
    for side in sides:
        out.tokens += side.tokens
        out.wall_s += side.wall_s
        out.latencies_s.extend(side.latencies_s)
    return out


async def _one_round(
    queue: JobQueue, gen: TextGenerator, jobs: Sequence[Job], arrival_s: float = 0.0
) -> Side:
    route = jobs[0].origin.route
    stream = queue.keys.results(route)
    tokens_before = gen.generated_tokens
    side = Side()
    started = time.perf_counter()
    arrived = {job.id: started + i * arrival_s for i, job in enumerate(jobs)}
    sending = asyncio.create_task(_send(queue, jobs, started, arrival_s))
    seen: set[str] = set()
    last = "0"
    while len(seen) < len(jobs):
        reply = await queue.redis.xread({stream: last}, count=1000, block=1000)
        now = time.perf_counter()
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                if fields.get("type") != "result":
                    continue
                result = load_result(fields["data"])
                if not result.ok:
                    raise RuntimeError(f"bench job failed: {result.error}")
                if result.job_id not in seen:
                    seen.add(result.job_id)
                    side.latencies_s.append(now - arrived[result.job_id])
    await sending
    side.wall_s = time.perf_counter() - started
    side.tokens = gen.generated_tokens - tokens_before
    return side


async def _send(queue: JobQueue, jobs: Sequence[Job], started: float, arrival_s: float) -> None:
    fairness = Fairness(queue)  # the adapters' path: the script that checks caps and limits
    for i, job in enumerate(jobs):
        wait = started + i * arrival_s - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        await fairness.admit_stored(job)


async def _forget(redis: Redis, prefix: str) -> None:
    """Delete every key of this run (it used a prefix of its own)."""
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 500):
        await redis.delete(*keys[start : start + 500])


async def bench_text(
    *,
    redis: Redis,
    model: Path,
    counts: Sequence[int],
    new_tokens: int,
    device: str = "auto",
    batch_size: int = 64,
    naive: bool = True,
    static: bool = True,
    arrival_ms: float = 0.0,
    repeats: int = 1,
    first_tokens: int = 0,
    matmul_s: float = 1.0,
) -> dict[str, Any]:
    """For every N, the continuous worker's round, the static worker's and the naive bot's,
    back to back (so all see the same load); small N repeated. Requests arrive together, or
    `arrival_ms` apart. Returns the report (rows plus the machine's peaks)."""
    dev, dtype = resolve_device(device)
    peaks = {name: matmul_peak(dev, dt, seconds=matmul_s) for name, dt in _peak_dtypes(dev)}
    arrival_s = arrival_ms / 1000
    gen = TextGenerator(str(model), device=dev)
    bot = NaiveBot(model, dev, dtype) if naive else None
    run = uuid.uuid4().hex[:8]
    prefix = f"atelier-bench-{run}:"
    queue = JobQueue(redis, keys=Keys(prefix))
    # Two workers on queues of their own: continuous batching and static
    # batches (read a batch, generate it whole, publish).
    workers: list[Worker] = [
        ContinuousWorker(queue, [gen], batch_size=batch_size, heartbeat_s=5.0, block_ms=200)
    ]
    static_gen = TextGenerator(str(model), device=dev) if static else None
    static_queue = JobQueue(redis, keys=Keys(f"{prefix}static:"))
    if static_gen is not None:
        workers.append(
            Worker(static_queue, [static_gen], batch_size=batch_size, heartbeat_s=5.0, block_ms=200)
        )
    tasks = []
    rows = []
    try:
        for each in workers:  # one at a time: loading a model is not thread-safe
            tasks.append(asyncio.create_task(each.run()))
            await asyncio.wait_for(each.ready.wait(), timeout=600)
        sides = _Contenders(queue, gen, static_queue, static_gen, bot)
        [warm] = bench_jobs(1, new_tokens, f"{run}-warm")
        await sides.warm_up(warm)
        params = sum(p.numel() for p in gen.model.parameters())
        peak_name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")
        peak = peaks.get(peak_name, 0.0)
        for n in counts:
            rounds = (
                bench_jobs(n, new_tokens, f"{run}-{n}-{rep}", first_tokens)
                for rep in range(repeats_for(n, repeats))
            )
            w_sides, s_sides, n_sides = await sides.take_turns(rounds, arrival_s)
            rows.append(_row(n, w_sides, s_sides, n_sides, params=params, peak=peak))
    finally:
        for each in workers:
            each.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
        await _forget(redis, prefix)
    return {
        "model": str(model),
        "parameters": params,
        "device": dev,
        "dtype": peak_name,
        "threads": torch.get_num_threads(),
        "new_tokens": new_tokens,
        "batch_size": batch_size,
        "arrival_ms": arrival_ms,
        "first_tokens": first_tokens,
        "matmul_peak_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()},
        "rows": rows,
    }


@dataclass
class _Contenders:
    """The sides that answer each round: Atelier's continuous worker, its static-batch worker
    (on a queue of its own) and the naive bot; the last two may sit out."""

    queue: JobQueue
    gen: TextGenerator
    static_queue: JobQueue
    static_gen: TextGenerator | None
    bot: NaiveBot | None

    async def warm_up(self, job: Job) -> None:
        """One whole request each, untimed: first calls pay for lazy set-up."""
        await _one_round(self.queue, self.gen, [job])
        if self.static_gen is not None:
            await _one_round(self.static_queue, self.static_gen, [job])
        if self.bot is not None:
            await asyncio.to_thread(self.bot.answer, job)

    async def take_turns(
        self, rounds: Iterable[Sequence[Job]], arrival_s: float
    ) -> tuple[list[Side], list[Side], list[Side]]:
        """Every round served by each side in turn: the worker's, static's and naive's sides."""
        w_sides, s_sides, n_sides = [], [], []
        for jobs in rounds:  # the sides take turns each round
            w_sides.append(await _one_round(self.queue, self.gen, jobs, arrival_s))
            if self.static_gen is not None:
                s_sides.append(
                    await _one_round(self.static_queue, self.static_gen, jobs, arrival_s)
                )
            if self.bot is not None:
                n_sides.append(await asyncio.to_thread(self.bot.round, jobs, arrival_s))
        return w_sides, s_sides, n_sides


def _row(
    n: int,
    w_sides: Sequence[Side],
    s_sides: Sequence[Side],
    n_sides: Sequence[Side],
    *,
    params: int,
    peak: float,
) -> dict[str, Any]:
    """One N's row of the report: each side's summary and the speedups over the naive bot."""
    w = merge(w_sides)
    row: dict[str, Any] = {
        "n": n,
        "repeats": len(w_sides),
        "worker": w.summary(),
        "worker_peak_fraction": round(w.tokens_per_s * 2 * params / peak, 4) if peak else None,
    }
    nv = merge(n_sides) if n_sides else None
    if nv is not None:
        row["naive"] = nv.summary()
        row["speedup"] = round(w.tokens_per_s / nv.tokens_per_s, 2) if nv.tokens else None
    if s_sides:
        st = merge(s_sides)
        row["static"] = st.summary()
        if nv is not None and nv.tokens:
            row["static_speedup"] = round(st.tokens_per_s / nv.tokens_per_s, 2)
    return row


def _peak_dtypes(device: str) -> list[tuple[str, torch.dtype]]:
    if device.startswith("cuda"):
        return [("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)]
    return [("fp32", torch.float32), ("bf16", torch.bfloat16)]


def text_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report flattened for the table."""
    out = []
    for row in report["rows"]:
        w, nv, st = row["worker"], row.get("naive") or {}, row.get("static") or {}
        out.append(
            {
                "N": row["n"],
                "naive tok/s": nv.get("tokens_per_s"),
                "static tok/s": st.get("tokens_per_s"),
                "continuous tok/s": w["tokens_per_s"],
                "static x": row.get("static_speedup"),
                "continuous x": row.get("speedup"),
                "naive p50 ms": nv.get("p50_ms"),
                "naive p95 ms": nv.get("p95_ms"),
                "static p50 ms": st.get("p50_ms"),
                "static p95 ms": st.get("p95_ms"),
                "continuous p50 ms": w["p50_ms"],
                "continuous p95 ms": w["p95_ms"],
                "peak %": None
                if row["worker_peak_fraction"] is None
                else round(100 * row["worker_peak_fraction"], 2),
            }
        )
    return out


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="atelier-bench-"))
