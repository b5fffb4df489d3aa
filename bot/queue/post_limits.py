"""Posting limits per channel, shared by every adapter replica through Redis.

Slack allows about one message a second per channel (short bursts pass), Discord five
messages per five seconds per channel. Each replica keeps its own client-side limits, but
N replicas posting into one channel would together go N times over; so before posting a
result as a new channel message (edits of the job's own message are limited otherwise)
each adapter takes a token from the channel's bucket (`post-bucket:{platform}:
{channel}`, the same token-bucket Lua as the command rate limits) and waits when it is
empty. The clock is Redis's own (TIME), so replicas on different hosts agree.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bot.keys import Keys
from bot.queue.limits import TAKE_TOKENS_LUA

log = logging.getLogger(__name__)

# KEYS[1]: the bucket. ARGV: rate (tokens a second), burst. Returns the seconds to wait
# before trying again (as a string, Lua numbers are truncated to integers), "0" when taken.
_POST_LUA = (
    TAKE_TOKENS_LUA
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local _, wait = take_tokens(1, 1, now)
return tostring(wait)
"""
)


@dataclass(frozen=True)
class PostRate:
    per_s: float  # refill rate
    burst: int  # capacity


SLACK_POSTS = PostRate(per_s=1.0, burst=3)
DISCORD_POSTS = PostRate(per_s=1.0, burst=5)


class PostLimiter:
    def __init__(
        self, redis: Any, keys: Keys, platform: str, rate: PostRate, *, max_wait_s: float = 60.0
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.platform = platform
        self.rate = rate
        self.max_wait_s = max_wait_s  # then post anyway: the platform's own 429 handling waits

    async def wait(self, channel_id: str) -> float:
        """Take a posting token for the channel, waiting for one; the seconds waited."""
        if not channel_id:
            return 0.0
        key = self.keys.post_bucket(self.platform, channel_id)
        waited = 0.0
        while waited < self.max_wait_s:
            wait = float(await self.redis.eval(_POST_LUA, 1, key, self.rate.per_s, self.rate.burst))
            if wait <= 0:
                return waited
            wait = min(wait + 0.01, self.max_wait_s - waited)
            await asyncio.sleep(wait)
            waited += wait
        log.warning("channel %s stayed busy for %.0f s; posting anyway", channel_id, waited)
        return waited
