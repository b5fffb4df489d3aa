"""Settings: the DESIGN contract's variable names, `.env`, empty values, hidden secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings

CONTRACT = {
    "ATELIER_REDIS_URL": "redis_url",
    "DISCORD_TOKEN": "discord_token",
    "ATELIER_DISCORD_API_BASE": "discord_api_base",
    "ATELIER_DISCORD_GATEWAY_URL": "discord_gateway_url",
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "SLACK_APP_TOKEN": "slack_app_token",
    "ATELIER_SLACK_API_URL": "slack_api_url",
    "ATELIER_TEXT_MODEL": "text_model",
    "ATELIER_IMAGE_MODEL": "image_model",
    "ATELIER_MUSIC_MODEL": "music_model",
    "ATELIER_DEVICE": "device",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CONTRACT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def value(settings: Settings, field: str) -> object:
    raw = getattr(settings, field)
    return raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw


def test_every_contract_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CONTRACT:
        monkeypatch.setenv(name, "cuda:1" if name == "ATELIER_DEVICE" else f"v-{name}")
    settings = Settings()
    for name, field in CONTRACT.items():
        expected = "cuda:1" if name == "ATELIER_DEVICE" else f"v-{name}"
        assert value(settings, field) == expected, name


def test_defaults_dotenv_and_empty_means_unset(tmp_path: Path) -> None:
    defaults = Settings()
    assert defaults.redis_url is None and defaults.text_model is None
    assert defaults.device == "auto" and defaults.redis_prefix == "atelier:"
    (tmp_path / ".env").write_text("ATELIER_TEXT_MODEL=./poet\nSLACK_APP_TOKEN=\n")
    from_file = Settings()
    assert from_file.text_model == "./poet" and from_file.slack_app_token is None


def test_secrets_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "very-secret-token")
    monkeypatch.setenv("ATELIER_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0")
    settings = Settings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "very-secret-token" not in shown and "hunter2" not in shown


def test_bad_device_is_refused_with_the_allowed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_DEVICE", "tpu")
    with pytest.raises(ValidationError, match="auto, cpu, cuda, cuda:N or mps"):
        Settings()
