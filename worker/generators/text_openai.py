"""Text from an OpenAI-compatible server (vLLM, TGI, llama.cpp server, ...), for models too
large for the worker's own GPU.

The worker still reads and batches jobs from the queue exactly as for a local model; a batch
becomes that many concurrent requests, which the server batches again on its side
(continuous batching in vLLM and TGI). Each request carries its job's seed, temperature,
top-p, repetition penalty and token budget, so a result says truthfully how it was made.

The model is named by a URL in ATELIER_TEXT_MODEL:
`http://host:8000/v1?model=NAME` (completions, `/v1/completions`), or with `&api=chat`
(`/v1/chat/completions`, for instruct models: the job's system and user messages). A key,
when the server wants one, comes from `ATELIER_OPENAI_API_KEY`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bot.errors import UserError
from bot.jobs import Job, JobKind
from worker.generators.base import Output, ProgressFn

TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Endpoint:
    base: str  # ends in /v1
    model: str
    chat: bool


def is_server_url(model_id: str) -> bool:
    return model_id.startswith(("http://", "https://"))


def parse_endpoint(model_id: str) -> Endpoint:
    url = urllib.parse.urlsplit(model_id)
    query = dict(urllib.parse.parse_qsl(url.query))
    model = query.get("model", "")
    if not model:
        raise ValueError(f"{model_id!r}: name the server's model, e.g. ...?model=NAME")
    api = query.get("api", "completions")
    if api not in ("completions", "chat"):
        raise ValueError(f"{model_id!r}: api is completions or chat, not {api!r}")
    base = urllib.parse.urlunsplit((url.scheme, url.netloc, url.path.rstrip("/"), "", ""))
    return Endpoint(base=base, model=model, chat=api == "chat")


class OpenAICompatGenerator:
    kind = JobKind.TEXT
    name = "openai-compatible"

    def __init__(self, model_id: str, *, parallel: int = 64, api_key: str | None = None) -> None:
        self.endpoint = parse_endpoint(model_id)
        self.model_id = self.endpoint.model
        self.device = urllib.parse.urlsplit(self.endpoint.base).netloc
        self.parallel = parallel
        self.api_key = api_key if api_key is not None else os.environ.get("ATELIER_OPENAI_API_KEY")

    def load(self) -> None:
        """Ask the server which models it serves; fail early when ours is not among them."""
        served = [m.get("id") for m in self._call("GET", "/models", None).get("data", [])]
        if served and self.model_id not in served:
            raise ValueError(f"the server serves {served}, not {self.model_id!r}")

    def warmup(self) -> None:
        """The server warms its own model; nothing to do here."""

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(jobs)))) as pool:
            return list(pool.map(self._one, jobs))

    def _one(self, job: Job) -> Output:
        spec = job.text
        if spec is None:
            raise ValueError(f"job {job.id} has no text request")
        body: dict[str, Any] = {
            "model": self.model_id,
            "max_tokens": spec.max_new_tokens,
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "seed": job.seed,
            "repetition_penalty": spec.repetition_penalty,  # vLLM, TGI, llama.cpp accept it
        }
        if self.endpoint.chat:
            body["messages"] = [
                {"role": "system", "content": spec.system},
                {"role": "user", "content": spec.instruction},
            ]
            reply = self._call("POST", "/chat/completions", body)
            text = reply["choices"][0]["message"]["content"]
        else:
            body["prompt"] = spec.completion
            reply = self._call("POST", "/completions", body)
            text = reply["choices"][0]["text"]
        settings: dict[str, str | int | float | bool] = dict(job.options)
        settings.update(
            temperature=spec.temperature, top_p=spec.top_p, max_new_tokens=spec.max_new_tokens
        )
        return Output(text=str(text).strip(), settings=settings)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.endpoint.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                reply: dict[str, Any] = json.loads(response.read())
                return reply
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            if exc.code == 400:  # the server refused this request (too long, bad value)
                raise UserError(f"The text model refused this request: {detail}") from exc
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
