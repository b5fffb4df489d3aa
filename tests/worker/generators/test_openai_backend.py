"""The OpenAI-compatible text backend against a loopback fake of that API, driven by the real
worker loop and queue: a batch of jobs becomes concurrent requests that carry each job's
seed and settings, results come back in order, and a refused request is the user's error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Origin
from bot.queue.streams import JobQueue
from tests.support.admission import admit
from tests.worker.test_worker import ROUTE, run_worker, stop, wait_results
from worker.generators.text_openai import OpenAICompatGenerator, parse_endpoint
from worker.loop import Worker


class FakeOpenAI(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        self._answer(200, {"object": "list", "data": [{"id": "big-model", "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append((self.path, body))
        if body.get("max_tokens", 0) > 1000:
            self._answer(400, {"error": {"message": "max_tokens is too large"}})
            return
        text = f"verse for seed {body['seed']}"
        if self.path == "/v1/chat/completions":
            choice: dict[str, Any] = {"message": {"role": "assistant", "content": text}}
        else:
            choice = {"text": " " + text}
        self._answer(200, {"choices": [choice | {"index": 0, "finish_reason": "length"}]})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_endpoint_urls() -> None:
    e = parse_endpoint("http://gpu-box:8000/v1/?model=meta/llama&api=chat")
    assert (e.base, e.model, e.chat) == ("http://gpu-box:8000/v1", "meta/llama", True)
    assert not parse_endpoint("https://h/v1?model=m").chat
    with pytest.raises(ValueError, match="model"):
        parse_endpoint("http://h/v1")
    with pytest.raises(ValueError, match="api"):
        parse_endpoint("http://h/v1?model=m&api=embeddings")


@pytest.mark.parametrize("api", ["completions", "chat"])
async def test_worker_batch_through_a_server(
    queue: JobQueue, fake_openai: FakeOpenAI, api: str
) -> None:
    jobs = []
    for n in range(5):
        origin = Origin(platform="console", route=ROUTE, delivery_id=f"oa-{api}-{n}")
        jobs.append(build_job(parse(f"/poem harbor {n} seed:{700 + n}"), origin))
    for job in jobs:
        await admit(queue, job)
    gen = OpenAICompatGenerator(f"{fake_openai.url}?model=big-model&api={api}")
    worker = Worker(queue, [gen], batch_size=8)
    task = await run_worker(worker)
    results = await wait_results(queue, 5)
    await stop(worker, task)

    by_id = {r.job_id: r for r in results}
    for job in jobs:
        r = by_id[job.id]
        assert r.ok and r.text == f"verse for seed {job.seed}"
        assert r.provenance is not None and r.provenance.model == "big-model"
        assert r.provenance.generator == "openai-compatible"
    path = "/v1/chat/completions" if api == "chat" else "/v1/completions"
    sent = [body for p, body in fake_openai.requests if p == path]
    assert sorted(b["seed"] for b in sent) == [700, 701, 702, 703, 704]
    assert jobs[0].text is not None
    assert all(b["max_tokens"] == jobs[0].text.max_new_tokens for b in sent)
    assert all(("messages" in b) == (api == "chat") for b in sent)


def test_a_refused_request_is_the_users_error(fake_openai: FakeOpenAI) -> None:
    from bot.errors import UserError

    origin = Origin(platform="console", route=ROUTE, delivery_id="oa-long")
    job = build_job(parse("/poem harbor seed:1"), origin)
    assert job.text is not None
    long = job.model_copy(update={"text": job.text.model_copy(update={"max_new_tokens": 2000})})
    gen = OpenAICompatGenerator(f"{fake_openai.url}?model=big-model")
    gen.load()
    with pytest.raises(UserError, match="refused"):
        gen.generate([long])
    with pytest.raises(ValueError, match="serves"):
        OpenAICompatGenerator(f"{fake_openai.url}?model=other").load()


def test_a_server_url_in_the_text_model_setting_picks_this_backend() -> None:
    import fakeredis

    from bot.cli import _build_worker
    from bot.config import Settings

    settings = Settings(ATELIER_TEXT_MODEL="http://127.0.0.1:9/v1?model=big")
    queue = JobQueue(fakeredis.FakeAsyncRedis(decode_responses=True))
    worker = _build_worker(settings, queue, "text", 8, 1, None)
    [gen] = worker.generators.values()
    assert isinstance(gen, OpenAICompatGenerator) and gen.model_id == "big"
