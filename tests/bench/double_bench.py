"""What the offline Bot double costs per call, at ``validate=False`` (the benchmarks' setting).

    python -m tests.bench.double_bench            # 100,000 sendMessage calls
    python -m tests.bench.double_bench --calls 20000 --rounds 1

Each figure is CPU time per ``Bot.send_message`` call through PTB: in all (``*_total_us``) and
inside the request object's ``do_request`` (``*_inside_us``, the double's own cost). ``canned``
answers the same Message without looking at the call: the floor PTB's request building and
response parsing set, which the bot pays against Telegram too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from telegram import Bot
from telegram.request import BaseRequest, RequestData

from tests.support.botdouble import BOT_USER, BotDouble


class CannedRequest(BaseRequest):
    """Answers every call with the same Message: the floor no double can go under."""

    def __init__(self) -> None:
        message = {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 1, "type": "private", "first_name": "Person"},
            "from": BOT_USER,
            "text": "x",
        }
        self._me = json.dumps({"ok": True, "result": {**BOT_USER}}).encode()
        self._message = json.dumps({"ok": True, "result": message}).encode()

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        return 200, self._me if url.endswith("getMe") else self._message


class Timed(BaseRequest):
    """Wraps a request object and adds up the CPU time spent inside its ``do_request``."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        started = time.process_time()
        try:
            return await self.inner.do_request(url, method, request_data)
        finally:
            self.seconds += time.process_time() - started


async def per_call_us(inner: BaseRequest, calls: int) -> tuple[float, float]:
    """CPU microseconds per send_message in all, and inside the request object."""
    request = Timed(inner)
    bot = Bot("123:BENCH", request=request)
    await bot.initialize()
    request.seconds = 0.0
    started = time.process_time()
    for i in range(calls):
        await bot.send_message(10_000 + i % 5_000, "Time for a check-in")
    elapsed = time.process_time() - started
    await bot.shutdown()
    return elapsed / calls * 1e6, request.seconds / calls * 1e6


async def main(calls: int, rounds: int) -> dict[str, float]:
    # CPU time, the best of a few interleaved rounds: on a shared machine noise only adds.
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, make in (
            ("canned", CannedRequest),
            ("double", lambda: BotDouble(validate=False)),
            ("double_record_false", lambda: BotDouble(validate=False, record=False)),
        ):
            total, inside = await per_call_us(make(), calls)
            best[f"{name}_total_us"] = min(best.get(f"{name}_total_us", total), total)
            best[f"{name}_inside_us"] = min(best.get(f"{name}_inside_us", inside), inside)
    return {"calls": calls, **{k: round(v, 1) for k, v in best.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.calls, args.rounds))))
