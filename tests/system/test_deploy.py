"""The deploy files agree with the code: probes and scrape annotations on the health port,
the KEDA trigger on the real stream and consumer group, Compose healthchecks, AOF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings
from bot.health import DEFAULT_PORT
from bot.jobs import JobKind
from bot.keys import WORKER_GROUP, Keys

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def deployment(name: str) -> dict[str, Any]:
    return next(d for d in docs(f"{name}.yaml") if d["kind"] in ("Deployment", "StatefulSet"))


def env_of(name: str) -> dict[str, Any]:
    [container] = deployment(name)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_adapters_run_several_replicas_named_by_their_pods() -> None:
    pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
    for name in ("slack", "discord"):
        assert deployment(name)["spec"]["replicas"] >= 2, name
        assert env_of(name)["ATELIER_ADAPTER_ID"] == pod_name, name
    discord = deployment("discord")
    assert discord["kind"] == "StatefulSet"  # stable names discord-0, discord-1, ...
    env = {k: v for k, v in env_of("discord").items() if isinstance(v, str)}
    replicas = discord["spec"]["replicas"]
    assert int(env["ATELIER_DISCORD_REPLICAS"]) == replicas
    shards = [
        Settings(**env, ATELIER_ADAPTER_ID=f"discord-{k}").shard_ids() for k in range(replicas)
    ]
    every = sorted(n for mine in shards for n in mine or [])
    assert all(shards) and every == list(range(int(env["ATELIER_DISCORD_SHARDS"])))


def test_the_default_port_is_the_one_deploy_uses() -> None:
    assert Settings().metrics_port == DEFAULT_PORT == 9108
    config = next(d for d in docs("configmap.yaml") if d["kind"] == "ConfigMap")
    assert config["data"]["ATELIER_METRICS_PORT"] == str(DEFAULT_PORT)
    assert config["data"]["ATELIER_LOG_FORMAT"] == "json"


def test_every_deployment_is_probed_and_scraped_on_the_health_port() -> None:
    for name in ("worker", "discord", "slack", "web"):
        template = deployment(name)["spec"]["template"]
        notes = template["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true", name
        assert notes["prometheus.io/port"] == str(DEFAULT_PORT), name
        assert notes["prometheus.io/path"] == "/metrics", name
        [container] = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["health"] == DEFAULT_PORT, name
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}


def test_keda_scales_the_worker_on_the_text_stream_of_the_workers_group() -> None:
    [scaled] = [d for d in docs("worker-autoscaling.yaml") if d["kind"] == "ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment("worker")["metadata"]["name"]
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"redis-streams"}
    for trigger in triggers:
        assert trigger["metadata"]["stream"] == Keys().jobs(JobKind.TEXT)
        assert trigger["metadata"]["consumerGroup"] == WORKER_GROUP
    assert any("pendingEntriesCount" in t["metadata"] for t in triggers)
    assert scaled["spec"]["minReplicaCount"] >= 1  # models load slowly: one stays warm


def test_every_manifest_in_the_kustomization_exists() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource


def test_compose_checks_readiness_and_runs_redis_with_aof() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("discord", "slack", "worker", "web"):
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{DEFAULT_PORT}/readyz" in test, name
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"


def test_images_expose_the_health_port_and_the_worker_builds_for_cpu_or_cuda() -> None:
    for name in ("Dockerfile.adapter", "Dockerfile.worker"):
        assert f"EXPOSE {DEFAULT_PORT}" in (DEPLOY / name).read_text(), name
    worker = (DEPLOY / "Dockerfile.worker").read_text()
    assert "ARG DEVICE=cuda" in worker and "ATELIER_DEVICE=${DEVICE}" in worker


def test_the_web_gallery_is_deployed_with_its_port_and_the_key_its_links_share() -> None:
    [service] = [d for d in docs("web.yaml") if d["kind"] == "Service"]
    [container] = deployment("web")["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["web"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ATELIER_WEB_HOST"]["value"] == "0.0.0.0"
    port = int(env["ATELIER_WEB_PORT"]["value"])
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["http"] == port
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for name in ("web", "discord", "slack"):  # who signs links and who checks them agree
        [c] = deployment(name)["spec"]["template"]["spec"]["containers"]
        keys = {e["name"]: e.get("valueFrom", {}) for e in c.get("env", [])}
        assert keys["ATELIER_WEB_SECRET"]["secretKeyRef"]["key"] == "ATELIER_WEB_SECRET", name
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["web"]
    assert compose["command"] == ["web"] and f"{port}:{port}" in compose["ports"]
    assert "EXPOSE 8080" in (DEPLOY / "Dockerfile.adapter").read_text()
