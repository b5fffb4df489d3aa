"""The Slack app manifest, built from the command catalogue (never written by hand).

    python -m adapters.slack.manifest > deploy/slack-manifest.yml

A test checks that the committed file matches what this module builds.
"""

from __future__ import annotations

import json
from typing import Any

from bot.commands.catalogue import CATALOGUE, Command

REQUEST_URL = "https://atelier.example.com/slack/events"  # replace with your host
BOT_SCOPES = (
    "commands",  # the slash commands
    "chat:write",  # post and edit results
    "files:write",  # images and audio (files_upload_v2)
    "files:read",  # a file shared with `@atelier submit`: its name, type, size, permalink
    "users:read",  # admins may change settings and delete any piece
    "app_mentions:read",  # `@atelier more like #3`
    "channels:history",  # ideas added by replying in a brainstorm thread
    "groups:history",
)
BOT_EVENTS = ("app_mention", "message.channels", "message.groups")
HINT_CHARS = 100


def usage_hint(cmd: Command) -> str:
    parts = [f"[{cmd.prompt}]"] if cmd.prompt else []
    parts += [sub.name for sub in cmd.subcommands]
    parts += [f"{o.name}:…" for o in cmd.options]
    hint = " ".join(parts) if not cmd.subcommands else " | ".join(parts)
    return hint if len(hint) <= HINT_CHARS else hint[: HINT_CHARS - 1] + "…"


def build_manifest(url: str = REQUEST_URL) -> dict[str, Any]:
    commands = [
        {
            "command": f"/{cmd.name}",
            "url": url,
            "description": cmd.help[:100],
            "usage_hint": usage_hint(cmd),
            "should_escape": True,  # mentions and channels arrive as ids (<#C123|art>)
        }
        for cmd in CATALOGUE
    ]
    return {
        "display_information": {
            "name": "Atelier",
            "description": "Write, draw and compose together, on open models.",
            "background_color": "#2c2d30",
        },
        "features": {
            "bot_user": {"display_name": "atelier", "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": {"request_url": url, "bot_events": list(BOT_EVENTS)},
            "interactivity": {"is_enabled": True, "request_url": url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }


def to_yaml(value: Any, indent: int = 0) -> str:
    """A small YAML writer for the manifest's shapes (mappings, lists, scalars as JSON)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {json.dumps(item, ensure_ascii=False)}")
    else:
        for item in value:
            if isinstance(item, dict):
                first, *rest = to_yaml(item, indent + 1).splitlines()
                lines.append(f"{pad}- {first.strip()}")
                lines.extend(rest)
            else:
                lines.append(f"{pad}- {json.dumps(item, ensure_ascii=False)}")
    return "\n".join(lines)


def render() -> str:
    head = (
        "# The Slack app manifest, generated from the command catalogue by\n"
        "#   python -m adapters.slack.manifest > deploy/slack-manifest.yml\n"
        "# Replace atelier.example.com with your host (HTTP mode), or set\n"
        "# socket_mode_enabled: true and use an app-level token (SLACK_APP_TOKEN).\n"
    )
    return head + to_yaml(build_manifest()) + "\n"


if __name__ == "__main__":
    print(render(), end="")
