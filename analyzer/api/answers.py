"""One answer per question per analysis round: GET answers of the API are kept until the next
round writes (what they read only changes then), and identical requests arriving together
wait for the first one's answer instead of each running its queries (many viewers of one
board ask the same things). A pod's trace reads what collectors write between rounds, so it
is never kept. Plain ASGI: a kept answer costs no more than sending it."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

KEPT = 512  # answers held at most (least recently used go first)
UNKEPT = ("/trace",)


class Answers:
    def __init__(self, app, generation):
        self.app = app
        self.generation = generation  # () -> an id that changes when the data does (serve: rounds done)
        self.kept: OrderedDict[tuple, tuple[dict, bytes]] = OrderedDict()
        self.pending: dict[tuple, asyncio.Lock] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].endswith(UNKEPT):
            return await self.app(scope, receive, send)
        auth = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        key = (self.generation(), scope["path"], scope["query_string"], auth)
        lock = self.pending.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if key not in self.kept:
                    messages: list[dict] = []

                    async def capture(message: dict) -> None:
                        messages.append(message)

                    await self.app(scope, receive, capture)
                    if messages[0]["status"] != 200:  # errors are answered, not kept
                        for message in messages:
                            await send(message)
                        return
                    self.kept[key] = (messages[0], b"".join(m.get("body", b"") for m in messages[1:]))
                    while len(self.kept) > KEPT:
                        self.kept.popitem(last=False)
                self.kept.move_to_end(key)
                start, body = self.kept[key]
        finally:
            if not lock.locked():
                self.pending.pop(key, None)
        await send(start)
        await send({"type": "http.response.body", "body": body})
