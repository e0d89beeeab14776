"""One answer per question per analysis round: GET answers of the API are kept until the next
round writes (what they read only changes then), and identical requests arriving together
wait for the first one's answer instead of each running its queries (many viewers of one
board ask the same things). A pod's trace reads what collectors write between rounds, so it
is never kept."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from starlette.responses import Response

KEPT = 512  # answers held at most (least recently used go first)
UNKEPT = ("/trace",)


class Answers:
    def __init__(self, generation):
        self.generation = generation  # () -> an id that changes when the data does (serve: rounds done)
        self.kept: OrderedDict[tuple, tuple[int, bytes, dict, str | None]] = OrderedDict()
        self.pending: dict[tuple, asyncio.Lock] = {}

    async def __call__(self, request, call_next):
        if request.method != "GET" or request.url.path.endswith(UNKEPT):
            return await call_next(request)
        key = (self.generation(), request.url.path, request.url.query, request.headers.get("authorization"))
        lock = self.pending.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if key not in self.kept:
                    response = await call_next(request)
                    body = b"".join([chunk async for chunk in response.body_iterator])
                    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
                    if response.status_code != 200:
                        return Response(body, response.status_code, headers=headers, media_type=response.media_type)
                    self.kept[key] = (response.status_code, body, headers, response.media_type)
                    while len(self.kept) > KEPT:
                        self.kept.popitem(last=False)
                self.kept.move_to_end(key)
                status, body, headers, media = self.kept[key]
                return Response(body, status, headers=headers, media_type=media)
        finally:
            if not lock.locked():
                self.pending.pop(key, None)
