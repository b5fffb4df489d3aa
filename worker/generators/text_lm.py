"""Text generation with any causal LM transformers can load (hub id or local directory).

One `generate` call per batch, left padding, per-job seeds and sampling settings
(`worker.decoding.sampling`), a chat template when the tokenizer has one and a plain completion
prompt otherwise. Progress (fraction and partial text) is reported at most once a second.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    StoppingCriteriaList,
)

from bot.commands.poetic_forms import form_problems, verdict
from bot.jobs import Job, JobKind, TextSpec
from worker.decoding.forms import FormGuide, FormPlan, Vocabulary, plan_for
from worker.decoding.sampling import RowBudget, RowSampler
from worker.device import resolve_device
from worker.generators.base import Output, ProgressFn
from worker.generators.transformers_load import load_causal_lm

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0
KEEP_END = 24  # a cut prompt keeps this many of its last tokens: the template's end
MIN_PROMPT = 32  # the answer gives way only to leave the prompt at least this many tokens


class TextGenerator:
    kind = JobKind.TEXT
    name = "transformers"
    gather_ms = 50.0  # the worker collects a burst of jobs this long into one batch

    def __init__(self, model_id: str, *, device: str = "auto", candidates: int = 2) -> None:
        self.model_id = model_id
        self.candidates = max(1, candidates)  # rows per poem with a form (best-of-N)
        self.device, self.dtype = resolve_device(device)
        self.tokenizer: Any = None
        self.model: Any = None
        self.use_chat = False
        self.context = 1024
        self._vocabulary: Vocabulary | None = None
        self.generate_calls = 0  # how many batched generate calls ran (stats, tests)
        self.generated_tokens = 0  # tokens generated, up to each row's end (benchmarks)

    # Loading ---------------------------------------------------------------------------
    def load(self) -> None:
        self.tokenizer, self.model = load_causal_lm(
            self.model_id, device=self.device, dtype=self.dtype
        )
        if self.tokenizer.pad_token is None:  # no end-of-text token to pad with either
            self.tokenizer.pad_token = self.tokenizer.unk_token
        self.use_chat = bool(getattr(self.tokenizer, "chat_template", None))
        config = self.model.config
        self.context = int(
            getattr(config, "max_position_embeddings", 0)
            or getattr(config, "n_positions", 0)
            or 2048
        )
        log.info(
            "text model %s loaded on %s (%s), chat template: %s",
            self.model_id,
            self.device,
            str(self.dtype).removeprefix("torch."),
            self.use_chat,
        )

    def warmup(self) -> None:
        """One tiny generation, so the first real job does not pay for lazy initialisation."""
        enc = self.tokenizer(["Warm up"], return_tensors="pt").to(self.device)
        with torch.inference_mode():
            self.model.generate(**enc, generation_config=self._config(2))

    def fluency(self, texts: Sequence[str]) -> list[float]:
        """Mean log-probability per token of each text under the model (higher reads more like
        the verse it learned): the cento poet's judge of which candidate flows best. One
        forward pass over `texts` together; positions count from each text's first real token
        (the tokenizer pads on the left), so each text scores as it would alone."""
        enc = self.tokenizer(list(texts), return_tensors="pt", padding=True).to(self.device)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        ids, mask = ids[:, : self.context], mask[:, : self.context]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions)
        logits = out.logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        picked = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (texts, tokens - 1)
        weight = (mask[:, 1:] * mask[:, :-1]).to(picked.dtype)  # a real token after a real one
        per_text = (picked * weight).sum(-1) / weight.sum(-1).clamp(min=1)
        return [float(x) for x in per_text]

    # Generation ------------------------------------------------------------------------
    def prompt_for(self, spec: TextSpec) -> str:
        if not self.use_chat:
            return spec.completion
        messages = [
            {"role": "system", "content": spec.system},
            {"role": "user", "content": spec.instruction},
        ]
        try:
            return str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        except Exception:  # some templates refuse a system turn: fold it into the user's
            merged = [{"role": "user", "content": f"{spec.system}\n\n{spec.instruction}"}]
            return str(
                self.tokenizer.apply_chat_template(
                    merged, tokenize=False, add_generation_prompt=True
                )
            )

    def encode_prompt(self, spec: TextSpec) -> tuple[list[int], int]:
        """The prompt's token ids cut to fit the context beside the asked answer, and the
        answer's budget: the prompt gives way, never the answer (see `fit_prompt`)."""
        ids = self.tokenizer(self.prompt_for(spec), add_special_tokens=not self.use_chat)
        return fit_prompt(list(ids.input_ids), spec.max_new_tokens, self.context)

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        specs = [spec_of(job) for job in jobs]
        plans = [plan_of(job) for job in jobs]
        # Best-of-N: a poem with a form gets several candidate rows in the same batch, each
        # with its own seed derived from the job's; the checker picks among them.
        owner = [j for j, plan in enumerate(plans) for _ in range(self.candidates if plan else 1)]
        tries = [owner[:r].count(j) for r, j in enumerate(owner)]
        fitted = [self.encode_prompt(spec) for spec in specs]
        enc = self.tokenizer.pad(
            {"input_ids": [fitted[j][0] for j in owner]}, padding=True, return_tensors="pt"
        )
        prompt_len = int(enc["input_ids"].shape[1])
        room = self.context - prompt_len
        if room < 1 or not prompt_len:
            return self._split_too_long(jobs, progress)
        budgets = [min(fitted[j][1], room) for j in owner]
        if len(jobs) > 1 and any(b < fitted[j][1] for b, j in zip(budgets, owner, strict=True)):
            # A longer prompt's padding would cut a row's answer short: run each job alone,
            # so every row gets its asked length and the same text as alone.
            return [self.generate([job], progress)[0] for job in jobs]
        starts = [int((row == 0).sum()) for row in enc["attention_mask"]]
        firsts = [owner.index(j) for j in range(len(jobs))]
        reporter = _Reporter(self, prompt_len, max(budgets), progress, firsts)
        guide = self._guide([plans[j] for j in owner], prompt_len)
        sampler = RowSampler(
            seeds=[candidate_seed(jobs[j].seed, k) for j, k in zip(owner, tries, strict=True)],
            temperatures=[specs[j].temperature for j in owner],
            top_ps=[specs[j].top_p for j in owner],
            penalties=[specs[j].repetition_penalty for j in owner],
            starts=starts,
            on_step=reporter,
            guide=guide,
        )
        enc = enc.to(self.device)
        self.generate_calls += 1
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                generation_config=self._config(max(budgets)),
                logits_processor=LogitsProcessorList([sampler]),
                stopping_criteria=StoppingCriteriaList([RowBudget(prompt_len, budgets)]),
            )
        tails = [out[r, prompt_len : prompt_len + budgets[r]].tolist() for r in range(len(owner))]
        ids = [self._until_stop(tail) for tail in tails]
        self.generated_tokens += sum(len(row) for row in ids)
        texts = [str(self.tokenizer.decode(row, skip_special_tokens=True)).strip() for row in ids]
        outputs = []
        for j, job in enumerate(jobs):
            rows = [r for r, o in enumerate(owner) if o == j]
            text = pick(job, [texts[r] for r in rows])
            settings = settings_of(job, specs[j], budgets[rows[0]])
            if len(rows) > 1:
                settings["candidates"] = len(rows)
            outputs.append(with_form(job, Output(text, settings)))
        return outputs

    def _guide(self, plans: Sequence[FormPlan | None], prompt_len: int) -> FormGuide | None:
        """Form-keeping masks for the poems in the batch (None when none has a form)."""
        if not any(plans):
            return None
        if self._vocabulary is None:
            self._vocabulary = Vocabulary(self.tokenizer)
        return FormGuide(self.tokenizer, self._vocabulary, plans, prompt_len)

    def guide_for(self, plan: FormPlan | None) -> FormGuide | None:
        """A one-row guide over a row's generated tokens only (the continuous path)."""
        return None if plan is None else self._guide([plan], 0)

    def _split_too_long(self, jobs: Sequence[Job], progress: ProgressFn | None) -> list[Output]:
        """A batch whose longest prompt fills the context: answer each job on its own."""
        if len(jobs) == 1:
            return [
                Output(
                    error="This prompt is too long for the model's context window; "
                    "shorten it and try again."
                )
            ]
        return [self.generate([job], progress)[0] for job in jobs]

    def _decode(self, row: torch.Tensor) -> str:
        ids = self._until_stop(row.tolist())
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()

    def _until_stop(self, ids: list[int]) -> list[int]:
        """A row's tokens before its first end-of-text or pad."""
        stops = {self.tokenizer.pad_token_id, *self._eos_ids()}
        for cut, token in enumerate(ids):
            if token in stops:
                return ids[:cut]
        return ids

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            return []
        return list(eos) if isinstance(eos, list | tuple) else [int(eos)]

    def _config(self, max_new_tokens: int) -> GenerationConfig:
        eos = self._eos_ids()
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=(eos if len(eos) != 1 else eos[0]) if eos else None,
        )


class _Reporter:
    """Called by the sampler every step; reports to the worker at most once a second."""

    def __init__(
        self,
        gen: TextGenerator,
        prompt_len: int,
        total: int,
        progress: ProgressFn | None,
        rows: Sequence[int],  # the row shown for each job (its first candidate)
    ) -> None:
        self.gen, self.prompt_len, self.total, self.progress = gen, prompt_len, total, progress
        self.rows = list(rows)
        self.last = 0.0

    def __call__(self, input_ids: torch.LongTensor) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        step = int(input_ids.shape[1]) - self.prompt_len + 1
        if self.last and now - self.last < PROGRESS_EVERY_S:
            return
        first = not self.last
        self.last = now
        partial = (
            None
            if first
            else [self.gen._decode(input_ids[r, self.prompt_len :]) for r in self.rows]
        )
        self.progress(min(step / max(self.total, 1), 1.0), partial)


def fit_prompt(ids: list[int], asked: int, context: int) -> tuple[list[int], int]:
    """Cut a prompt so that it and `asked` new tokens fit `context`: the answer keeps its
    asked length and the prompt loses its middle, keeping its start (the instruction and the
    premise's opening, any begin-of-text token) and its last `KEEP_END` tokens (the template's
    end, where the answer begins). Only an answer longer than the context less `MIN_PROMPT`
    is itself cut. Returns the ids and the answer's budget."""
    budget = max(1, min(asked, context - min(len(ids), MIN_PROMPT)))
    room = context - budget
    if len(ids) <= room:
        return ids, budget
    tail = min(KEEP_END, room // 2)
    return ids[: room - tail] + (ids[-tail:] if tail else []), budget


def candidate_seed(seed: int, k: int) -> int:
    """The seed of a job's k-th candidate: the job's own for the first, then derived."""
    return seed if k == 0 else (seed + k * 0x9E3779B1) % 2**32


def plan_of(job: Job) -> FormPlan | None:
    """The form plan of a poem job (its form and prompt), None for any other command."""
    if job.command != "poem":
        return None
    return plan_for(str(job.options.get("form", "free")), job.prompt)


def pick(job: Job, candidates: list[str]) -> str:
    """The first candidate that meets the form, else the one with the fewest problems."""
    scored = []
    for text in candidates:
        problems = form_problems(job.command, job.options, job.prompt, text)
        if not problems:
            return text
        scored.append((len(problems), text))
    return min(scored, key=lambda pair: pair[0])[1]


def with_form(job: Job, out: Output) -> Output:
    """Check the poem against its form; the result states whether the form was met."""
    met, note = verdict(job.command, job.options, job.prompt, out.text)
    if met is not None:
        out.note = note
    return out


def spec_of(job: Job) -> TextSpec:
    """The job's text request; a text job without one is an error."""
    if job.text is None:
        raise ValueError(f"job {job.id} has no text request")
    return job.text


def settings_of(job: Job, spec: TextSpec, budget: int) -> dict[str, str | int | float | bool]:
    """The settings an output reports: the job's options plus the sampling it ran with."""
    settings: dict[str, str | int | float | bool] = dict(job.options)
    settings.update(temperature=spec.temperature, top_p=spec.top_p, max_new_tokens=budget)
    return settings


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
