"""Discord's payload shapes for the loopback fake (tests/support/fake_discord.py): users, the
guild and its channel, the application, members, and a submitted modal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Permission bits (Discord's values)
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
MEMBER = VIEW_CHANNEL | SEND_MESSAGES
BOT_PERMISSIONS = MEMBER | (1 << 14) | (1 << 15)  # embed links, attach files


@dataclass(frozen=True)
class FakeUser:
    id: int
    name: str
    permissions: int = MEMBER
    joined_at: str = ""  # when the member joined the guild (ISO 8601); "" = just now

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name.title(),
            "avatar": None,
            "public_flags": 0,
        }


def member_payload(user: FakeUser) -> dict[str, Any]:
    return {
        "user": user.payload(),
        "roles": [],
        "joined_at": user.joined_at or now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": None,
        "avatar": None,
        "premium_since": None,
        "communication_disabled_until": None,
        "permissions": str(user.permissions),
    }


def channel_payload(channel_id: int, guild_id: int) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": "art",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
        "permissions": str(BOT_PERMISSIONS),
    }


def guild_payload(guild_id: int, channel_id: int, owner_id: int) -> dict[str, Any]:
    return {
        "id": str(guild_id),
        "name": "Atelier test guild",
        "icon": None,
        "owner_id": str(owner_id),
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "permissions": str(MEMBER),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "features": [],
        "member_count": 3,
        "members": [],
        "channels": [channel_payload(channel_id, guild_id)],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "large": False,
        "unavailable": False,
        "joined_at": now(),
        "mfa_level": 0,
        "verification_level": 0,
        "explicit_content_filter": 0,
        "default_message_notifications": 0,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
    }


def application_payload(app_id: int, bot: FakeUser, owner: FakeUser) -> dict[str, Any]:
    return {
        "id": str(app_id),
        "name": "Atelier",
        "icon": None,
        "description": "",
        "summary": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "owner": owner.payload(),
        "team": None,
        "bot": {**bot.payload(), "bot": True},
    }


def filled(components: list[dict[str, Any]], values: dict[str, str]) -> list[dict[str, Any]]:
    """A modal's components as Discord submits them: each text input with its value."""
    out = []
    for comp in components:
        if comp.get("type") == 4:
            out.append(
                {
                    "type": 4,
                    "custom_id": comp["custom_id"],
                    "value": values.get(comp["custom_id"], comp.get("value", "")),
                }
            )
        elif "components" in comp:
            out.append({"type": comp["type"], "components": filled(comp["components"], values)})
        elif "component" in comp:
            out.append({"type": comp["type"], "component": filled([comp["component"]], values)[0]})
    return out


def now() -> str:
    return datetime.now(UTC).isoformat()


# Gateway intents (Discord's bits)
GUILD_MESSAGES = 1 << 9
MESSAGE_CONTENT = 1 << 15


def thread_payload(
    thread_id: int, guild_id: int, parent_id: int, owner_id: int, name: str
) -> dict[str, Any]:
    """A public thread (channel type 11), as Discord returns it when one is started."""
    return {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": now(),
            "locked": False,
            "create_timestamp": now(),
        },
    }


def user_message_payload(
    message_id: int,
    channel_id: int,
    guild_id: int,
    user: FakeUser,
    content: str,
    mentions: list[FakeUser],
) -> dict[str, Any]:
    """A member's message, as MESSAGE_CREATE carries it."""
    member = member_payload(user)
    del member["user"], member["permissions"]
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "guild_id": str(guild_id),
        "author": user.payload(),
        "member": member,
        "content": content,
        "timestamp": now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [u.payload() for u in mentions],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }


ATTACHMENT = 11  # the slash-command option type of an uploaded file
CDN = "https://cdn.discordapp.com"


def attachment_payload(
    attachment_id: int, channel_id: int, filename: str, content_type: str, size: int
) -> dict[str, Any]:
    """An uploaded file, as `data.resolved.attachments` carries it (a signed CDN link)."""
    signed = "ex=6a1b2c3d&is=6a1a0000&hm=abc123"  # Discord's links expire; these never load
    url = f"{CDN}/ephemeral-attachments/{channel_id}/{attachment_id}/{filename}?{signed}"
    return {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url.replace(CDN, "https://media.discordapp.net"),
        "content_type": content_type,
        "ephemeral": True,
    } | ({"width": 640, "height": 480} if content_type.startswith("image/") else {})
