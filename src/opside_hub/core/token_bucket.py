"""A token bucket per key, kept in Redis so every worker process draws from the same quota.

One Lua script does the arithmetic atomically on Redis's clock. It *reserves*: a caller always
takes its token and is told how long to wait until that token exists, so concurrent callers
queue in arrival order and the quota is used fully without bursts of 429s. A bucket's rate can
be replaced by what the provider announces (`x-amzn-RateLimit-Limit`), and a 429 empties it.

A server enforcing a quota (the sandbox providers) must not queue: `try_take` takes the tokens
only when they are there now and otherwise leaves the bucket as it was, answering how long the
caller would have had to wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

_RESERVE = """
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate') or ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or burst)
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts') or now)
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate) - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 3600)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""

_TRY_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or burst)
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts') or now)
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
if tokens < cost then return tostring((cost - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - cost), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 3600)
return '0'
"""

_DRAIN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tokens, 0)), 'ts', tostring(now))
return 1
"""


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int


class TokenBuckets:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._drain = redis.register_script(_DRAIN)
        self._try_take = redis.register_script(_TRY_TAKE)

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    async def reserve(self, name: str, rate: Rate, cost: float = 1.0) -> float:
        """Take `cost` tokens; returns the seconds to wait before using them (0 = now)."""
        wait = await self._reserve(keys=[self._key(name)], args=[rate.per_second, rate.burst, cost])
        return float(wait)

    async def try_take(self, name: str, rate: Rate, cost: float = 1.0) -> float:
        """Take `cost` tokens if the bucket holds them now (returns 0); otherwise take nothing
        and return the seconds until it would. The bucket's rate is `rate`, never an adopted one."""
        wait = await self._try_take(
            keys=[self._key(name)], args=[rate.per_second, rate.burst, cost]
        )
        return float(wait)

    async def adopt_rate(self, name: str, per_second: float) -> None:
        """Use the rate the provider announced for this bucket from now on."""
        if per_second > 0:
            await self.redis.hset(self._key(name), "rate", str(per_second))

    async def drain(self, name: str) -> None:
        """The provider said 429: whatever we thought was left is not."""
        await self._drain(keys=[self._key(name)])
