"""The benchmarks in a tiny mode: each runs for real (real Redis, tiny real models, the real
adapter and worker processes for e2e) and prints a table and a JSON line with the fields
docs/benchmarks.md relies on. No timing is asserted: these machines are shared and noisy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.benchmarks import latency_ms, percentile, table
from bot.cli import app


def run_bench(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith('{"bench"')]
    assert len(lines) == 1, result.output
    report: dict[str, Any] = json.loads(lines[0])
    assert report["machine"]["cpus"] >= 1
    return report


def test_percentiles_are_observed_values() -> None:
    values = [0.005, 0.001, 0.003, 0.002, 0.004]
    assert percentile(values, 50) == 0.003
    assert percentile(values, 99) == 0.005
    assert percentile([7.0], 1) == 7.0
    assert latency_ms(values) == {"p50_ms": 3.0, "p95_ms": 5.0, "p99_ms": 5.0, "max_ms": 5.0}


def test_table_aligns_columns() -> None:
    text = table([{"N": 1, "tok/s": 1234.5}, {"N": 64, "tok/s": None}], ["N", "tok/s"])
    lines = text.splitlines()
    assert lines[0].split() == ["N", "tok/s"]
    assert lines[2].split() == ["1", "1,234.5"]
    assert len({len(line) for line in lines}) == 1


def test_bench_text_tiny(redis_server: str, tiny_gpt2: Path) -> None:
    report = run_bench(
        "text",
        "--n",
        "1,3",
        "--new-tokens",
        "6",
        "--model",
        str(tiny_gpt2),
        "--matmul-s",
        "0.05",
        "--redis-url",
        redis_server,
    )
    assert report["bench"] == "text" and report["parameters"] > 0
    assert set(report["matmul_peak_gflops"]) == {"fp32", "bf16"}
    assert [(row["n"], row["repeats"]) for row in report["rows"]] == [(1, 8), (3, 3)]
    for row in report["rows"]:
        for side in ("worker", "static", "naive"):
            assert {"tokens", "tokens_per_s", "p50_ms", "p95_ms", "wall_s"} <= set(row[side])
            assert 0 < row[side]["tokens"] <= 6 * row["n"] * row["repeats"]
        assert row["speedup"] > 0 and row["worker_peak_fraction"] > 0
        assert row["static_speedup"] > 0


def test_bench_text_spaces_requests_and_puts_a_long_one_first(
    redis_server: str, endless_gpt2: Path
) -> None:
    report = run_bench(
        "text",
        "--n",
        "3",
        "--new-tokens",
        "4",
        "--first-tokens",
        "12",
        "--arrival-ms",
        "30",
        "--repeats",
        "2",
        "--no-naive",
        "--model",
        str(endless_gpt2),
        "--matmul-s",
        "0.05",
        "--redis-url",
        redis_server,
    )
    assert report["arrival_ms"] == 30 and report["first_tokens"] == 12
    [row] = report["rows"]
    assert row["repeats"] == 3 and "naive" not in row  # 8 requests a side at least
    # At most the budgets (12 + 4 + 4 a round): a row also stops at a sampled pad token.
    for side in ("worker", "static"):
        assert 0 < row[side]["tokens"] <= 3 * (12 + 4 + 4)
        assert row[side]["wall_s"] >= 3 * 0.06  # each round's last request arrives 60 ms in


def test_bench_text_builds_a_model_from_a_config(tiny_gpt2: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from worker.bench.text import build_model

    out = build_model("gpt2:1x64", tiny_gpt2, tmp_path / "built")
    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    assert model.config.n_layer == 1 and model.config.n_embd == 64
    with pytest.raises(ValueError, match="gpt2:LAYERSxWIDTH"):
        build_model("llama", tiny_gpt2, tmp_path / "bad")


def test_bench_queue_tiny(redis_server: str) -> None:
    report = run_bench("queue", "--jobs", "30", "--rate", "300", "--redis-url", redis_server)
    for side in ("atelier", "arq"):
        for phase in ("steady", "burst"):
            got = report[side][phase]
            assert got["jobs"] == 30
            assert {"jobs_per_s", "p50_ms", "p99_ms", "max_ms"} <= set(got)
    assert report["throughput_ratio"] > 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--cluster-url", "redis://127.0.0.1:6379/0"], "--cluster-url must be redis+cluster://"),
        (["--redis-url", "redis+cluster://127.0.0.1:7000"], "arq needs a single Redis"),
    ],
)
def test_bench_queue_refuses_the_wrong_kind_of_url(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["bench", "queue", "--jobs", "1", *args])
    assert result.exit_code == 2 and says in result.output


def test_bench_e2e_tiny(redis_server: str, tiny_gpt2: Path) -> None:
    report = run_bench(
        "e2e", "--commands", "3", "--model", str(tiny_gpt2), "--redis-url", redis_server
    )
    assert report["commands"] == 3 and report["completed"] == 3
    assert report["statuses"] == {"200": 3}
    assert {"p50_ms", "p99_ms"} <= set(report["ack"]) and report["all_done_s"] > 0
    assert report["web_api_calls"]["chat.postMessage"] >= 3


def test_bench_web_tiny(redis_server: str) -> None:
    report = run_bench("web", "--pieces", "120", "--requests", "5", "--redis-url", redis_server)
    assert report["pieces"] == 120 and report["page_size"] == 50
    cases = {row["case"]: row for row in report["rows"]}
    assert set(cases) == {
        "newest page",
        "pages across the gallery",
        "filtered (kind=image)",
        "filtered (member and kind)",
    }
    assert cases["newest page"]["requests"] == 5 and cases["newest page"]["p99_ms"] > 0
