"""Typed settings, read once from the environment and `.env` (the DESIGN contract).

Secrets are `SecretStr`: their value never shows in a repr, a log line or an error.
"""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting Atelier reads. Names are the environment variables of DESIGN.md."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Redis -----------------------------------------------------------------------------
    redis_url: SecretStr | None = Field(default=None, validation_alias=_env("ATELIER_REDIS_URL"))
    redis_prefix: str = Field(default="atelier:", validation_alias=_env("ATELIER_REDIS_PREFIX"))
    redis_reconnect_s: float = Field(
        default=60.0, gt=0, le=3600, validation_alias=_env("ATELIER_REDIS_RECONNECT")
    )  # how long a Redis that does not answer is waited for: at start (then exit 1), and by a
    # command that arrives while it is down (held, then "try again")

    # Platforms -------------------------------------------------------------------------
    discord_token: SecretStr | None = Field(default=None, validation_alias=_env("DISCORD_TOKEN"))
    discord_api_base: str | None = Field(
        default=None, validation_alias=_env("ATELIER_DISCORD_API_BASE")
    )
    discord_gateway_url: str | None = Field(
        default=None, validation_alias=_env("ATELIER_DISCORD_GATEWAY_URL")
    )
    discord_guild_id: int | None = Field(
        default=None, gt=0, validation_alias=_env("ATELIER_DISCORD_GUILD_ID")
    )  # sync commands to this guild only (instant, for development); unset: globally
    discord_shards: str | None = Field(
        default=None, validation_alias=_env("ATELIER_DISCORD_SHARDS")
    )  # "auto" (Discord's recommendation) or a count; unset: one connection, no sharding
    discord_shard_ids: str | None = Field(
        default=None, validation_alias=_env("ATELIER_DISCORD_SHARD_IDS")
    )  # this replica's shards, e.g. "0,2" of ATELIER_DISCORD_SHARDS=4; unset: all of them;
    # "pod": replica k (the number ending ATELIER_ADAPTER_ID, a StatefulSet pod's name) of
    # ATELIER_DISCORD_REPLICAS runs the shards n with n % replicas == k
    discord_replicas: int = Field(
        default=1, ge=1, le=1000, validation_alias=_env("ATELIER_DISCORD_REPLICAS")
    )
    discord_token_ttl_s: float = Field(
        default=870.0, gt=0, le=900, validation_alias=_env("ATELIER_DISCORD_TOKEN_TTL")
    )  # how long a reply is edited in place; Discord's tokens last 15 minutes
    discord_message_content: bool = Field(
        default=False, validation_alias=_env("ATELIER_DISCORD_MESSAGE_CONTENT")
    )  # the privileged message-content intent (enable it in the developer portal too):
    # every reply in a poem's thread is a line; off, only replies that mention the bot are
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=_env("SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=_env("SLACK_APP_TOKEN")
    )
    slack_api_url: str | None = Field(default=None, validation_alias=_env("ATELIER_SLACK_API_URL"))
    slack_body_timeout_s: float = Field(
        default=10.0, gt=0, le=300, validation_alias=_env("ATELIER_SLACK_BODY_TIMEOUT")
    )  # HTTP mode: a request body not in after this long is answered 408 and closed
    slack_max_slow_bodies: int = Field(
        default=32, ge=1, validation_alias=_env("ATELIER_SLACK_MAX_SLOW_BODIES")
    )  # HTTP mode: requests still sending their body after a second; more are refused (503)

    # Models ----------------------------------------------------------------------------
    text_model: str | None = Field(default=None, validation_alias=_env("ATELIER_TEXT_MODEL"))
    image_model: str | None = Field(default=None, validation_alias=_env("ATELIER_IMAGE_MODEL"))
    music_model: str | None = Field(default=None, validation_alias=_env("ATELIER_MUSIC_MODEL"))
    device: str = Field(default="auto", validation_alias=_env("ATELIER_DEVICE"))

    # Moderation ------------------------------------------------------------------------
    # A local text-classification model directory, or `module:function` returning
    # (flagged, reason); the worker checks prompts and text results with it.
    moderation_classifier: str | None = Field(
        default=None, validation_alias=_env("ATELIER_MODERATION_CLASSIFIER")
    )
    moderation_labels: str = Field(
        default="toxic,nsfw,unsafe,offensive,hate",
        validation_alias=_env("ATELIER_MODERATION_LABELS"),
    )  # the classifier's labels that stop a text (comma-separated, any case)
    moderation_threshold: float = Field(
        default=0.5, gt=0, le=1, validation_alias=_env("ATELIER_MODERATION_THRESHOLD")
    )

    # Queue behaviour -------------------------------------------------------------------
    visibility_timeout_s: float = Field(
        default=120.0, gt=0, validation_alias=_env("ATELIER_VISIBILITY_TIMEOUT")
    )
    max_attempts: int = Field(default=3, ge=1, le=20, validation_alias=_env("ATELIER_MAX_ATTEMPTS"))
    job_ttl_s: int = Field(default=7 * 24 * 3600, gt=0, validation_alias=_env("ATELIER_JOB_TTL"))
    max_queue_length: int = Field(
        default=1000, ge=1, validation_alias=_env("ATELIER_MAX_QUEUE_LENGTH")
    )
    heartbeat_s: float = Field(default=5.0, gt=0, validation_alias=_env("ATELIER_HEARTBEAT"))
    # A worker's consumer name. Stable per deployment slot (a pod's name), a restarted worker
    # runs its predecessor's pending jobs at once; unset, each process gets a name of its own.
    worker_id: str | None = Field(default=None, validation_alias=_env("ATELIER_WORKER_ID"))
    # An adapter replica's consumer name on its result stream (a pod's name); unset:
    # `{platform}-{hostname}`. A dead replica's results move to the live ones within seconds.
    adapter_id: str | None = Field(default=None, validation_alias=_env("ATELIER_ADAPTER_ID"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_env("ATELIER_LOG_LEVEL")
    )

    # Operations ------------------------------------------------------------------------
    log_format: Literal["plain", "json"] = Field(
        default="plain", validation_alias=_env("ATELIER_LOG_FORMAT")
    )  # json: one object per line with time, level, logger, message and the job's id
    metrics_port: int = Field(
        default=9108, ge=0, le=65535, validation_alias=_env("ATELIER_METRICS_PORT")
    )  # /healthz, /readyz and /metrics; 0 turns the server off
    metrics_host: str = Field(default="0.0.0.0", validation_alias=_env("ATELIER_METRICS_HOST"))

    # The web gallery (`atelier web`, and `atelier up`) ----------------------------------
    web_port: int = Field(
        default=8080, ge=0, le=65535, validation_alias=_env("ATELIER_WEB_PORT")
    )  # 0: `atelier up` starts no web gallery
    web_host: str = Field(default="127.0.0.1", validation_alias=_env("ATELIER_WEB_HOST"))
    web_url: str | None = Field(
        default=None, validation_alias=_env("ATELIER_WEB_URL")
    )  # the address members open (behind a proxy); unset: http://127.0.0.1:{web_port}
    web_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("ATELIER_WEB_SECRET")
    )  # signs the links `/gallery web` hands out; unset: a key made once and kept in Redis
    web_link_ttl_s: int = Field(
        default=7 * 86_400, ge=60, le=365 * 86_400, validation_alias=_env("ATELIER_WEB_LINK_TTL")
    )

    @field_validator(
        "redis_url",
        "discord_token",
        "discord_api_base",
        "discord_gateway_url",
        "discord_guild_id",
        "discord_shards",
        "discord_shard_ids",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_api_url",
        "text_model",
        "image_model",
        "music_model",
        "moderation_classifier",
        "worker_id",
        "adapter_id",
        "web_url",
        "web_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `SLACK_APP_TOKEN=` in a .env file means "not set", not "set to nothing".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        value = value.strip().lower()
        if value in {"auto", "cpu", "cuda", "mps"} or value.startswith("cuda:"):
            return value
        raise ValueError("ATELIER_DEVICE must be auto, cpu, cuda, cuda:N or mps")

    @field_validator("discord_shards")
    @classmethod
    def _check_shards(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if value == "auto" or (value.isdigit() and int(value) >= 1):
            return value
        raise ValueError("ATELIER_DISCORD_SHARDS must be auto or a shard count such as 2")

    @field_validator("discord_shard_ids")
    @classmethod
    def _check_shard_ids(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.strip().lower() == "pod":
            return "pod"
        parts = [part.strip() for part in value.split(",")]
        if all(part.isdigit() for part in parts):
            return ",".join(parts)
        raise ValueError("ATELIER_DISCORD_SHARD_IDS must be shard numbers such as 0,2, or pod")

    def shard_ids(self) -> list[int] | None:
        """This replica's Discord shards; None: every shard of the count."""
        if self.discord_shard_ids is None:
            return None
        if self.discord_shard_ids != "pod":
            return [int(part) for part in self.discord_shard_ids.split(",")]
        ordinal = self.consumer_name("discord").rsplit("-", 1)[-1]
        count = self.discord_shards
        if not ordinal.isdigit() or count is None or not count.isdigit():
            raise ValueError(
                "ATELIER_DISCORD_SHARD_IDS=pod needs a pod name ending in its number "
                "(a StatefulSet's) and ATELIER_DISCORD_SHARDS set to the count"
            )
        replicas = self.discord_replicas
        return [n for n in range(int(count)) if n % replicas == int(ordinal) % replicas]

    def consumer_name(self, platform: str) -> str:
        """This adapter replica's consumer name on its result stream."""
        return self.adapter_id or f"{platform}-{socket.gethostname()}"

    @field_validator("redis_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError("ATELIER_REDIS_PREFIX must be a non-empty word such as 'atelier:'")
        return value

    def web_address(self) -> str:
        """Where members open the web gallery (no trailing slash)."""
        return (self.web_url or f"http://127.0.0.1:{self.web_port or 8080}").rstrip("/")


def load_settings(**overrides: object) -> Settings:
    """Read the settings; keyword overrides win (used by the CLI's flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
