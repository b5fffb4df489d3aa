"""Continuous batching for the text generator: a small scheduler over the model's KV cache.

A static batch makes a job that arrives while the batch generates wait for all of it. Here
the batch is a set of rows that changes every step:

- new jobs are prefilled together (left padded) and merged into the running cache at the
  next step: every cache tensor, the attention mask and the token history are left padded
  to a common length, and each row keeps its own position ids (its count of real tokens);
- every row samples with its own seeded `torch.Generator`, temperature, top-p and
  repetition penalty (`worker.decoding.sampling`) and, for a poem with a form, its own `FormGuide`;
- a finished row leaves the cache at once, and a job is answered as soon as all its rows
  (best-of-N candidates are extra rows) are done, not when the whole batch is.

A job's rows draw exactly as they would in `TextGenerator.generate` (one draw per step from
the row's generator, the same penalty, mask and nucleus), so a job gives the same text
alone, in a static batch or joining a running one, up to the ~1e-6 logit differences that
padding causes in fp32. transformers' own continuous batching cannot do this: it has one
random stream for all requests. Nothing here touches Redis; `worker.continuous_loop` drives
it from the worker.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from bot.jobs import Job
from worker.decoding.forms import FormGuide
from worker.decoding.kv_room import make_roomy, reserve
from worker.decoding.sampling import choose, penalise
from worker.generators.base import Output
from worker.generators.text_lm import (
    PROGRESS_EVERY_S,
    TextGenerator,
    candidate_seed,
    pick,
    plan_of,
    settings_of,
    spec_of,
    with_form,
)

TOO_LONG = "This prompt is too long for the model's context window; shorten it and try again."


@dataclass
class _Row:
    """One sequence in the batch: a job's candidate."""

    owner: _Flight
    generator: torch.Generator
    guide: FormGuide | None
    prompt: list[int]
    budget: int
    generated: list[int] = field(default_factory=list)
    done: bool = False


@dataclass
class _Flight:
    """A job in flight: its rows, and when it last reported progress."""

    job: Job
    rows: list[_Row] = field(default_factory=list)
    reported: float = 0.0


@dataclass
class Step:
    """What one step produced: jobs answered, and progress (fraction, partial text or None)."""

    finished: list[tuple[Job, Output]] = field(default_factory=list)
    progress: list[tuple[Job, float, str | None]] = field(default_factory=list)


class ContinuousBatcher:
    """Rows join and leave between steps. Not thread-safe: one thread calls `add` and `step`
    (the worker runs both in its generation thread, one call at a time)."""

    def __init__(self, gen: TextGenerator) -> None:
        self.gen = gen
        self.rows: list[_Row] = []  # the running batch, in cache order
        self.waiting: list[_Flight] = []  # added, prefilled at the next step
        self.cache: Any = None  # the model's KV cache for self.rows (batch first)
        self.mask = torch.zeros(0, 0, dtype=torch.long)  # (rows, length): 1 = a real token
        self.tokens = torch.zeros(0, 0, dtype=torch.long)  # (rows, length): ids in the cache
        self.next: torch.Tensor | None = None  # (rows,): sampled, not yet in the cache
        self.steps = 0  # decode steps run (stats, tests)
        eos = set(gen._eos_ids())
        self.stops = eos | {gen.tokenizer.pad_token_id}

    # Jobs ------------------------------------------------------------------------------
    @property
    def jobs(self) -> list[Job]:
        """Every job added and not yet answered."""
        seen: dict[str, Job] = {}
        for flight in [*(r.owner for r in self.rows), *self.waiting]:
            seen.setdefault(flight.job.id, flight.job)
        return list(seen.values())

    @property
    def idle(self) -> bool:
        return not self.rows and not self.waiting

    def add(self, jobs: Sequence[Job]) -> list[tuple[Job, Output]]:
        """Queue jobs to join at the next step; returns those answered at once (an error)."""
        answered = []
        gen = self.gen
        for job in jobs:
            spec, plan = spec_of(job), plan_of(job)
            ids, budget = gen.encode_prompt(spec)  # the prompt gives way, never the answer
            if gen.context - len(ids) < 1 or not ids:
                answered.append((job, Output(error=TOO_LONG)))
                continue
            flight = _Flight(job)
            for k in range(gen.candidates if plan else 1):
                seed = candidate_seed(job.seed, k)
                flight.rows.append(
                    _Row(
                        owner=flight,
                        generator=torch.Generator(device="cpu").manual_seed(int(seed)),
                        guide=gen.guide_for(plan),
                        prompt=list(ids),
                        budget=budget,
                    )
                )
            self.waiting.append(flight)
        return answered

    def drop_all(self) -> list[Job]:
        """Forget every job (after a failed step); returns them, for the caller to retry."""
        jobs = self.jobs
        self.rows, self.waiting, self.cache, self.next = [], [], None, None
        self.mask = torch.zeros(0, 0, dtype=torch.long)
        self.tokens = torch.zeros(0, 0, dtype=torch.long)
        return jobs

    # One step --------------------------------------------------------------------------
    def step(self) -> Step:
        """Advance every row by one token: the running rows decode their last token, the
        waiting ones are prefilled and merged, then every row samples."""
        if self.idle:
            return Step()
        with torch.inference_mode():
            logits = self._decode() if self.rows else None
            if self.waiting:
                fresh = self._prefill([r for f in self.waiting for r in f.rows])
                logits = fresh if logits is None else torch.cat([logits, fresh])
                self.waiting = []
            assert logits is not None
            tokens = self._sample(logits)
        self.steps += 1
        return self._advance(tokens)

    def _decode(self) -> torch.Tensor:
        assert self.next is not None
        dev = self.gen.device
        positions = self.mask.sum(dim=1, keepdim=True)  # each row's count of real tokens
        self.mask = torch.cat([self.mask, torch.ones_like(positions)], dim=1)
        self.tokens = torch.cat([self.tokens, self.next[:, None]], dim=1)
        out = self.gen.model(
            input_ids=self.next[:, None].to(dev),
            attention_mask=self.mask.to(dev),
            position_ids=positions.to(dev),
            cache=self.cache,
            use_cache=True,
        )
        self.cache = out.cache
        logits: torch.Tensor = out.logits[:, -1, :].float().cpu()
        return logits

    def _prefill(self, rows: list[_Row]) -> torch.Tensor:
        """Run the new rows' prompts (left padded together) and merge their cache."""
        dev = self.gen.device
        length = max(len(r.prompt) for r in rows)
        pad = int(self.gen.tokenizer.pad_token_id)
        tokens = torch.tensor([[pad] * (length - len(r.prompt)) + r.prompt for r in rows])
        mask = torch.tensor([[0] * (length - len(r.prompt)) + [1] * len(r.prompt) for r in rows])
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        out = self.gen.model(
            input_ids=tokens.to(dev),
            attention_mask=mask.to(dev),
            position_ids=positions.to(dev),
            use_cache=True,
            logits_to_keep=1,  # only the last position's logits are sampled
        )
        self._merge(rows, make_roomy(out.cache), mask, tokens)
        logits: torch.Tensor = out.logits[:, -1, :].float().cpu()
        return logits

    def _merge(
        self, rows: list[_Row], cache: Any, mask: torch.Tensor, tokens: torch.Tensor
    ) -> None:
        if not self.rows:
            self.rows, self.cache, self.mask, self.tokens = rows, cache, mask, tokens
            self._reserve()
            return
        width = max(self.mask.shape[1], mask.shape[1])
        for old, new in zip(_layers(self.cache), _layers(cache), strict=True):
            old.keys = torch.cat([_pad_seq(old.keys, width), _pad_seq(new.keys, width)])
            old.values = torch.cat([_pad_seq(old.values, width), _pad_seq(new.values, width)])
        self.mask = torch.cat([_pad_left(self.mask, width, 0), _pad_left(mask, width, 0)])
        pad = int(self.gen.tokenizer.pad_token_id)
        self.tokens = torch.cat([_pad_left(self.tokens, width, pad), _pad_left(tokens, width, pad)])
        self.rows = self.rows + rows
        self._reserve()

    def _reserve(self) -> None:
        """The cache was replaced (its next step copies it): room for the longest answer
        still to come, so it is not copied again until rows join or leave. At most what a
        static batch of these rows would hold at its end."""
        reserve(self.cache, max(r.budget - len(r.generated) for r in self.rows))

    def _sample(self, logits: torch.Tensor) -> torch.Tensor:
        """Each row's token, exactly as `RowSampler` picks it in a static batch."""
        rows = self.rows
        specs = [spec_of(r.owner.job) for r in rows]
        # Padding repeats the row's first real token, so the penalty never sees it.
        first = self.tokens.gather(1, self.mask.argmax(dim=1, keepdim=True))
        ids = torch.where(self.mask.bool(), self.tokens, first)
        logits = penalise(
            ids, logits, torch.tensor([s.repetition_penalty for s in specs], dtype=torch.float32)
        )
        for i, row in enumerate(rows):
            if row.guide is not None:
                row.guide.mask(torch.tensor([row.generated], dtype=torch.long), logits[i : i + 1])
        temperatures = torch.tensor([s.temperature for s in specs], dtype=torch.float32)
        top_ps = torch.tensor([s.top_p for s in specs], dtype=torch.float32)
        return choose(logits, temperatures, top_ps, [r.generator for r in rows]).view(-1)

    def _advance(self, tokens: torch.Tensor) -> Step:
        """Record each row's token, retire finished rows, answer finished jobs."""
        step = Step()
        keep = []
        for i, (row, token) in enumerate(zip(self.rows, tokens.tolist(), strict=True)):
            if token in self.stops:
                row.done = True
            else:
                row.generated.append(token)
                row.done = len(row.generated) >= row.budget
            if not row.done:
                keep.append(i)
        flights = {id(r.owner): r.owner for r in self.rows}
        for flight in flights.values():
            if all(r.done for r in flight.rows):
                step.finished.append((flight.job, self._answer(flight)))
            else:
                self._report(flight, step)
        if len(keep) < len(self.rows):
            self._retire(keep)
        self.next = tokens[keep] if keep else None
        return step

    def _retire(self, keep: list[int]) -> None:
        """Drop finished rows from the cache, and the columns left holding only padding."""
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache = None
            self.mask = torch.zeros(0, 0, dtype=torch.long)
            self.tokens = torch.zeros(0, 0, dtype=torch.long)
            return
        index = torch.tensor(keep)
        mask = self.mask[index]
        cut = int(mask.any(dim=0).long().argmax())  # the first column with a real token
        self.mask, self.tokens = mask[:, cut:], self.tokens[index, cut:]
        dev_index = index.to(self.gen.device)
        for layer in _layers(self.cache):
            layer.keys = layer.keys[dev_index, :, cut:]
            layer.values = layer.values[dev_index, :, cut:]
        self._reserve()

    def _answer(self, flight: _Flight) -> Output:
        gen, job = self.gen, flight.job
        spec = spec_of(job)
        texts = []
        for row in flight.rows:
            gen.generated_tokens += len(row.generated)
            texts.append(str(gen.tokenizer.decode(row.generated, skip_special_tokens=True)).strip())
        settings = settings_of(job, spec, flight.rows[0].budget)
        if len(texts) > 1:
            settings["candidates"] = len(texts)
        return with_form(job, Output(pick(job, texts), settings))

    def _report(self, flight: _Flight, step: Step) -> None:
        """Progress at most once a second per job: the first with no text, then the text
        of its first candidate so far."""
        now = time.monotonic()
        if flight.reported and now - flight.reported < PROGRESS_EVERY_S:
            return
        row = flight.rows[0]
        partial = None
        if flight.reported:
            partial = str(self.gen.tokenizer.decode(row.generated, skip_special_tokens=True))
        flight.reported = now
        step.progress.append((flight.job, min(len(row.generated) / row.budget, 1.0), partial))


def _layers(cache: Any) -> list[Any]:
    """The cache's per-layer tensors (transformers' DynamicCache: `.layers[i].keys/.values`,
    each (batch, heads, length, head_dim))."""
    return list(cache.layers)


def supports(gen: TextGenerator) -> bool:
    """Whether the loaded model's cache is the plain kind this scheduler can slice and merge
    (full attention, one tensor pair per layer); others stay on the static path."""
    try:
        enc = gen.tokenizer(["a b"], return_tensors="pt").to(gen.device)
        with torch.inference_mode():
            cache = gen.model(**enc, use_cache=True).cache
        layers = _layers(cache)
    except Exception:
        return False
    return bool(layers) and all(
        type(layer).__name__ == "DynamicLayer" and isinstance(layer.keys, torch.Tensor)
        for layer in layers
    )


def _pad_seq(t: torch.Tensor, width: int) -> torch.Tensor:
    """A (batch, heads, length, dim) cache tensor left padded with zeros to `width`."""
    missing = width - t.shape[2]
    if missing <= 0:
        return t
    return torch.cat([t.new_zeros(t.shape[0], t.shape[1], missing, t.shape[3]), t], dim=2)


def _pad_left(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    missing = width - t.shape[1]
    if missing <= 0:
        return t
    return torch.cat([torch.full((t.shape[0], missing), value, dtype=t.dtype), t], dim=1)
