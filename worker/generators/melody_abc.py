"""The offline melody generator: a small language model of ABC folk tunes writes the notes,
our own code checks and repairs them, writes MIDI and renders a WAV.

For each job the header (title, rhythm, metre, unit, tempo, key) comes from its options and
mood (`worker.music.header`); the model continues it with a tune body. All jobs of a batch
are sampled in one `generate` call, each row with its job's own seed (`RowSampler`), two
rows a job by default (best of N: the body that needed the least repair is kept). A
context window holds about twenty bars, so a long melody is written in rounds: the next
round's prompt is the header plus the end of what the row has so far. The model is kept
from ending a tune early (no end-of-text, no blank line).

The body is then parsed with our ABC reader, repaired (unreadable marks dropped, bars
filled or trimmed to the metre, repeats closed) and cut to the requested number of bars as
played. A body that is mostly unreadable is sampled again with a derived seed; a melody that
is still short after its rounds is completed by playing its opening again (da capo). The
posted ABC is read back once more before it leaves: it must parse with nothing dropped, with
every bar full and the requested length, or the job gets an error instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteriaList,
)

from bot.jobs import Job, JobKind, OptionValue
from worker.decoding.bars import BarGuide
from worker.decoding.sampling import RowBudget, RowSampler
from worker.device import resolve_device
from worker.generators.base import File, Output, ProgressFn
from worker.generators.text_lm import candidate_seed
from worker.generators.transformers_load import load_causal_lm
from worker.music import notation, portable
from worker.music.bars import Metre
from worker.music.header import UNIT, Request, request_for
from worker.music.midi import write_midi
from worker.music.synth import SAMPLE_RATE, render, wav_bytes

log = logging.getLogger(__name__)
TOKENS_PER_BAR = 9  # with room to spare: the corpus averages 6.6 tokens a bar
MAX_DROPPED_SHARE = 0.25  # more of the body unreadable than this: sample it again


class MelodyGenerator:
    kind = JobKind.MUSIC
    name = "transformers (ABC) + numpy synth"

    def __init__(
        self,
        model_id: str,
        *,
        device: str = "auto",
        rounds: int = 5,
        attempts: int = 2,
        candidates: int = 2,
        temperature: float = 0.7,
        top_p: float = 0.95,
        keep_metre: bool = True,
    ) -> None:
        self.model_id = model_id
        self.device, self.dtype = resolve_device(device)
        self.rounds, self.attempts, self.candidates = rounds, attempts, max(1, candidates)
        self.temperature, self.top_p = temperature, top_p
        self.keep_metre = keep_metre  # mask notes that overflow a bar (worker.decoding.bars)
        self.tokenizer: Any = None
        self.model: Any = None
        self.context = 256
        self.generate_calls = 0
        self.metre_fallbacks = 0  # steps where metre-keeping had to step aside (evaluation)
        self.chosen: list[str] = []  # the raw bodies the last `generate` kept (for evaluation)

    def load(self) -> None:
        self.tokenizer, self.model = load_causal_lm(
            self.model_id, device=self.device, dtype=self.dtype
        )
        config = self.model.config
        self.context = int(getattr(config, "n_positions", 0) or config.max_position_embeddings)
        log.info("melody model %s loaded on %s", self.model_id, self.device)

    def warmup(self) -> None:
        self._sample(["X:1\nM:C\nK:G\n"], seeds=[0], budgets=[2])

    # Generation ------------------------------------------------------------------------
    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        # Best-of-N: each job gets `candidates` rows, each with its own seed derived from the
        # job's; the row whose body needed the least repair is posted.
        owner = [j for j in range(len(jobs)) for _ in range(self.candidates)]
        rows = [candidate_seed(jobs[j].seed, k % self.candidates) for k, j in enumerate(owner)]
        requests = [request_for(job) for job in jobs]
        asks = [requests[j] for j in owner]
        bodies = [""] * len(owner)
        pending = list(range(len(owner)))
        steps = self.attempts * self.rounds
        for attempt in range(self.attempts):
            for turn in range(self.rounds):
                todo = [r for r in pending if not _long_enough(asks[r], bodies[r])]
                if not todo:
                    break
                prompts, budgets = [], []
                for r in todo:
                    prompts.append(self._prompt(asks[r], bodies[r]))
                    need = asks[r].bars + 2 - _played(asks[r], bodies[r])
                    budgets.append(TOKENS_PER_BAR * need + 8)
                seeds = [_round_seed(rows[r], attempt, turn) for r in todo]
                metres = [Metre(asks[r].key, asks[r].meter, UNIT) for r in todo]
                sampled = self._sample(prompts, seeds, budgets, metres, [bodies[r] for r in todo])
                for r, text in zip(todo, sampled, strict=True):
                    bodies[r] += text
                if progress is not None:
                    progress(min((attempt * self.rounds + turn + 1) / steps, 1.0), None)
            # Mostly unreadable bodies are sampled again, from scratch, with a new seed. After
            # the last attempt they stay: repaired, a tune may still pass the check (a blank
            # one never does).
            pending = [r for r in pending if _unreadable(asks[r], bodies[r])]
            if not pending or attempt == self.attempts - 1:
                break
            for r in pending:
                bodies[r] = ""
        outputs = []
        self.chosen = []
        for j, job in enumerate(jobs):
            mine = [r for r, o in enumerate(owner) if o == j]
            best = min(mine, key=lambda r: (_repairs(asks[r], bodies[r]), r))
            self.chosen.append(bodies[best])
            outputs.append(self._finish(job, requests[j], bodies[best]))
        if progress is not None:
            progress(1.0, None)
        return outputs

    def _prompt(self, request: Request, body: str) -> str:
        """The header, then as much of the end of the body as leaves room to write."""
        header = request.header()
        room = self.context // 2 - len(self.tokenizer.encode(header))
        ids = self.tokenizer.encode(body)[-room:] if body and room > 0 else []
        return header + str(self.tokenizer.decode(ids))

    def _sample(
        self,
        prompts: list[str],
        seeds: list[int],
        budgets: list[int],
        metres: list[Metre] | None = None,
        bodies: list[str] | None = None,
    ) -> list[str]:
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        prompt_len = int(enc["input_ids"].shape[1])
        budgets = [max(1, min(b, self.context - prompt_len)) for b in budgets]
        sampler = RowSampler(
            seeds=seeds,
            temperatures=[self.temperature] * len(prompts),
            top_ps=[self.top_p] * len(prompts),
            penalties=[1.0] * len(prompts),
            starts=[int((row == 0).sum()) for row in enc["attention_mask"]],
        )
        processors: list[LogitsProcessor] = [_KeepTuneGoing(self.tokenizer)]
        guide = None
        if self.keep_metre and metres is not None:
            guide = BarGuide(
                self.tokenizer,
                metres=metres,
                bodies=bodies or [""] * len(prompts),
                prompt_length=prompt_len,
                temperature=self.temperature,
            )
            processors.append(guide)
        self.generate_calls += 1
        with torch.inference_mode():
            out = self.model.generate(
                **enc.to(self.device),
                generation_config=GenerationConfig(
                    max_new_tokens=max(budgets),
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=None,
                ),
                logits_processor=LogitsProcessorList([*processors, sampler]),
                stopping_criteria=StoppingCriteriaList([RowBudget(prompt_len, budgets)]),
            )
        if guide is not None:
            self.metre_fallbacks += guide.fallbacks
        return [
            str(self.tokenizer.decode(out[r, prompt_len : prompt_len + budgets[r]].tolist()))
            for r in range(len(prompts))
        ]

    # From notes to files ---------------------------------------------------------------
    def _finish(self, job: Job, request: Request, body: str) -> Output:
        tune = _tune(request, body)
        tune = notation.cut(tune, request.bars)
        tune = _da_capo(tune, request.bars)
        tune = notation.end_on_tonic(tune, request.key)
        text = notation.write(tune)
        problems = check(text, request)
        if problems:
            log.warning("melody for job %s failed its check: %s", job.id, "; ".join(problems))
            return Output(
                error="The melody came out unreadable this time; try again with another seed."
            )
        abc = request.header() + text + "\n"
        notes = notation.events(tune)
        unit = Fraction(UNIT)
        seconds = [(p, float(n * unit) * request.whole_note_s) for p, n in notes]
        midi = write_midi(
            [(p, n * unit) for p, n in notes],
            quarter_bpm=request.tempo * float(request.beat / Fraction(1, 4)),
            meter=_meter_pair(request.meter),
            program={"soft": 73, "pluck": 24, "reed": 71}[request.timbre],
            name=request.title,
        )
        wav = wav_bytes(render(seconds, timbre=request.timbre, seed=job.seed), SAMPLE_RATE)
        slug = re.sub(r"[^a-z0-9]+", "-", request.title.lower()).strip("-")[:60] or "melody"
        what = f"{request.title}: {request.bars} bars in {request.key}, {request.meter}"
        settings: dict[str, OptionValue] = dict(job.options)
        settings.update(
            key=request.key,
            metre=request.meter,
            tempo=request.tempo,
            length=request.bars,
            timbre=request.timbre,
            temperature=self.temperature,
            top_p=self.top_p,
            candidates=self.candidates,
        )
        return Output(
            text=abc,
            settings=settings,
            note=f"{sum(s for _, s in seconds):.0f} s, {request.timbre} timbre",
            files=[
                File(f"{slug}.abc", "text/vnd.abc", abc.encode("utf-8"), f"{what} (ABC)"),
                File(f"{slug}.mid", "audio/midi", midi, f"{what} (MIDI)"),
                File(f"{slug}.wav", "audio/wav", wav, f"{what} (audio)"),
            ],
        )


def check(body: str, request: Request) -> list[str]:
    """What is wrong with a tune body we are about to post (nothing, we hope)."""
    tune = notation.parse(body, key=request.key, meter=request.meter, unit=UNIT)
    problems = []
    if tune.dropped:
        problems.append(f"{tune.dropped} unreadable marks")
    if not tune.bars:
        return [*problems, "no bars"]
    for n, bar in enumerate(tune.bars):
        short_pickup = n == 0 and bar.length <= tune.bar_length / 2
        if bar.length != tune.bar_length and not short_pickup:
            problems.append(f"bar {n + 1} is {bar.length} long, not {tune.bar_length}")
    if notation.repair(tune).bars != tune.bars:
        problems.append("repeats or bars needed repair")
    problems.extend(portable.faults(tune))
    full = notation.played_length(tune)
    if full != request.bars:
        problems.append(f"{full} bars, not {request.bars}")
    return problems


def _tune(request: Request, body: str) -> notation.Tune:
    return portable.repair(notation.parse(body, key=request.key, meter=request.meter, unit=UNIT))


def _played(request: Request, body: str) -> int:
    return notation.played_length(_tune(request, body)) if body else 0


def _long_enough(request: Request, body: str) -> bool:
    # One bar spare: the last bar the model wrote may be unfinished.
    return _played(request, body) >= request.bars + 2


def _repairs(request: Request, body: str) -> float:
    """How much repair a body needs, per bar it fills: dropped marks and bars of the wrong
    length within the requested bars (unreadable or empty bodies score worst)."""
    tune = notation.parse(body, key=request.key, meter=request.meter, unit=UNIT)
    if not tune.bars:
        return float("inf")
    bars = tune.bars[: request.bars + 1]
    wrong = sum(1 for n, b in enumerate(bars) if n and b.length != tune.bar_length)
    return (wrong + tune.dropped / 4) / len(bars)


def _unreadable(request: Request, body: str) -> bool:
    tune = notation.parse(body, key=request.key, meter=request.meter, unit=UNIT)
    return not tune.bars or tune.dropped > MAX_DROPPED_SHARE * max(len(body), 1)


def _da_capo(tune: notation.Tune, bars: int) -> notation.Tune:
    """A melody still short of `bars`: its opening full bars again, written out plainly."""
    full = [b for b in tune.bars if b.length == tune.bar_length]
    if not full:
        return tune
    have = notation.played_length(tune)
    if have >= bars:
        return tune
    extra = [
        replace(
            full[k % len(full)],
            items=[replace(i, events=list(i.events)) for i in full[k % len(full)].items],
            opens=False,
            closes=False,
            ending=0,
            double=False,
        )
        for k in range(bars - have)
    ]
    last = tune.bars[-1]
    kept = [*tune.bars[:-1], replace(last, double=False if not last.closes else last.double)]
    extra[-1] = replace(extra[-1], double=True)
    written = [*kept, *extra]
    notation.drop_false_ties(written)
    return replace(tune, bars=written)


def _round_seed(seed: int, attempt: int, turn: int) -> int:
    return candidate_seed(seed, attempt * 64 + turn)


def _meter_pair(meter: str) -> tuple[int, int]:
    if meter in ("C", "C|"):
        return (4, 4) if meter == "C" else (2, 2)
    num, den = meter.split("/")
    return int(num), int(den)


class _KeepTuneGoing(LogitsProcessor):
    """No end-of-text, and no new line that is blank or starts a header field (`X:1` opens
    the next tune; `T:`, `M:`... would change the one we asked for)."""

    def __init__(self, tokenizer: Any) -> None:
        self.eos = tokenizer.eos_token_id
        newline = tokenizer.encode("\n", add_special_tokens=False)
        self.newline = newline[0] if len(newline) == 1 else None
        vocab = range(len(tokenizer))
        texts = tokenizer.convert_ids_to_tokens(list(vocab))
        decoded = [tokenizer.convert_tokens_to_string([t]) if t else "" for t in texts]
        self.line_starts = [
            i for i, text in zip(vocab, decoded, strict=True) if _starts_field(text)
        ]
        if self.newline is not None:
            self.line_starts.append(self.newline)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()  # type: ignore[assignment]
        if self.eos is not None:
            scores[:, self.eos] = float("-inf")
        if self.newline is not None:
            after_newline = (input_ids[:, -1] == self.newline).nonzero().flatten()
            for row in after_newline.tolist():
                scores[row, self.line_starts] = float("-inf")
        return scores


def _starts_field(text: str) -> bool:
    """`X`, `X:1`, `T:`...: a token that would begin a header line. Single letters other
    than X stay allowed (they are notes and decorations); the reader drops any field line
    that still gets through."""
    return text.startswith("X") or bool(re.match(r"[A-Za-z]:(?!\|)", text))
