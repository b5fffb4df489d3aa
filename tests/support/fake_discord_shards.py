"""Several guilds on several shards, for the loopback Discord: Discord puts a guild's events
on shard `(guild_id >> 22) % shard_count`, and each shard is one gateway session, which can
be held by a different adapter process (a replica running its own `shard_ids`)."""

from __future__ import annotations

from typing import Any


class Shards:
    guild_id: int
    channel_id: int
    sessions: dict[int, Any]

    def snowflake(self) -> int: ...

    def _shards_init(self) -> None:
        self.guild_channels: dict[int, int] = {self.guild_id: self.channel_id}
        self.shard_conflicts = 0  # IDENTIFYs for a shard whose session was still open

    def add_guild(self, shard: int, count: int) -> tuple[int, int]:
        """A new guild (and its channel) whose events go to `shard` of `count`."""
        base = self.snowflake()
        high = base >> 22
        guild = ((high - high % count + shard) << 22) | (base & 0x3FFFFF)
        channel = self.snowflake()
        self.guild_channels[guild] = channel
        return guild, channel

    def guilds_on(self, shard_id: int, count: int) -> list[int]:
        return [g for g in self.guild_channels if (g >> 22) % count == shard_id]

    def session_of(self, guild_id: int) -> Any:
        """The open session of the shard that owns the guild."""
        count = next(iter(self.sessions.values())).shard[1]
        return self.sessions[(guild_id >> 22) % count]

    def note_identify(self, shard_id: int) -> None:
        old = self.sessions.get(shard_id)
        if old is not None and not old.ws.closed:
            self.shard_conflicts += 1
