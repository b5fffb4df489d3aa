"""Rate limits as token buckets in Redis: one per member and one per server.

A bucket holds up to `burst` tokens and refills at `per_minute / 60` tokens a second;
starting a command takes one token from every bucket that applies. The buckets are checked
and taken inside the admission script (`bot.queue.fairness`), after the duplicate check and the
caps, so a repeated delivery costs no token, a refused command takes none, and two adapter
replicas never both spend the last one. The Lua below uses only HMGET/HSET/EXPIRE, so it
runs the same on a real Redis and on the embedded store (fakeredis with Lua). Keys are
documented in `bot.keys`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.desk.server_settings import ServerSettings
from bot.jobs import Origin
from bot.keys import Keys

# A Lua chunk for scripts that include it. take_tokens(first_key, first_arg, now): the
# buckets are KEYS[first_key..#KEYS]; bucket i's rate (tokens a second) and burst are
# ARGV[first_arg + 2i - 2] and ARGV[first_arg + 2i - 1]. Takes one token from each, or
# none: then it returns the bucket to wait longest for (1-based) and the seconds until it
# holds a token; else 0, 0.
TAKE_TOKENS_LUA = """
local function take_tokens(first_key, first_arg, now)
  local levels, worst, wait = {}, 0, 0
  for i = 1, #KEYS - first_key + 1 do
    local key = KEYS[first_key + i - 1]
    local rate = tonumber(ARGV[first_arg + 2 * i - 2])
    local burst = tonumber(ARGV[first_arg + 2 * i - 1])
    local saved = redis.call('HMGET', key, 'tokens', 'at')
    local tokens = tonumber(saved[1]) or burst
    local at = tonumber(saved[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
    levels[i] = tokens
    if tokens < 1 and (1 - tokens) / rate > wait then
      worst, wait = i, (1 - tokens) / rate
    end
  end
  if worst > 0 then return worst, wait end
  for i = 1, #KEYS - first_key + 1 do
    local key = KEYS[first_key + i - 1]
    local rate = tonumber(ARGV[first_arg + 2 * i - 2])
    local burst = tonumber(ARGV[first_arg + 2 * i - 1])
    redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'at', tostring(now))
    redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
  end
  return 0, 0
end
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    per_minute: int  # refill rate
    burst: int  # capacity
    server: bool  # the server's bucket (else a member's)

    def args(self) -> list[str]:
        return [repr(self.per_minute / 60.0), str(self.burst)]


def buckets_for(keys: Keys, origin: Origin, server: ServerSettings) -> list[Bucket]:
    """The buckets a command takes from: the member's and the server's. None outside a
    server (a DM, the console): the limits are the server's settings."""
    if not origin.guild_id:
        return []
    found = []
    if origin.user_id:
        per_minute = server.jobs_per_minute
        found.append(
            Bucket(
                keys.bucket(origin.platform, origin.guild_id, origin.user_id),
                per_minute,
                server.member_burst or per_minute,
                server=False,
            )
        )
    per_minute = server.server_jobs_per_minute
    server_key = keys.bucket(origin.platform, origin.guild_id)
    found.append(Bucket(server_key, per_minute, per_minute, server=True))
    return found


def refusal_text(bucket: Bucket, wait_s: float) -> str:
    """What a member is told when a bucket is empty: the limit, and when to try again."""
    wait = max(1, math.ceil(wait_s))
    when = f"Try again in {wait} second{'s' if wait != 1 else ''}."
    if bucket.server:
        return (
            f"This server is starting jobs faster than {bucket.per_minute} a minute, its "
            f"limit, so Atelier stays quick for everyone. {when}"
        )
    return (
        f"You have started jobs faster than {bucket.per_minute} a minute, this server's "
        f"limit for each member. {when}"
    )
