"""One inference at a time, shared fairly between clients (asyncio; no torch).

A client is a remote host. Its requests (one per open connection: a connection waits for each
reply before it sends the next request) wait in its own queue; the worker serves the queues round
robin, one request per turn, so a client that floods — many connections, back-to-back requests —
gets one turn per round like every other client, and another client's request waits for at most
the one request of the flooder that is running when it arrives. At most `max_pending` requests of one client may wait; more are
refused at once (`Busy`) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from typing import Any


class Busy(RuntimeError):
    """A client already has `max_pending` requests waiting."""


class FairScheduler:
    def __init__(self, max_pending: int = 8) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.max_pending = max_pending
        self.served: Counter[str] = Counter()
        self._queues: OrderedDict[str, deque] = OrderedDict()
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    async def run(self, client: str, fn: Callable[[Any], Any], arg: Any) -> Any:
        """`fn(arg)` in a worker thread, when it is `client`'s turn; its result (or exception)."""
        queue = self._queues.get(client)
        if queue is not None and len(queue) >= self.max_pending:
            raise Busy(
                f"{len(queue)} requests of this client are already waiting (at most {self.max_pending})"
            )
        if self._worker is None or self._worker.done():
            self._wake = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._work())
        future = asyncio.get_running_loop().create_future()
        self._queues.setdefault(client, deque()).append((fn, arg, future))
        self._wake.set()
        return await future

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queues:
                client, queue = next(iter(self._queues.items()))
                fn, arg, future = queue.popleft()
                if not future.done():  # else the connection closed while its request waited
                    try:
                        result = await asyncio.to_thread(fn, arg)
                    except Exception as e:  # the request's own error: its handler replies with it
                        result, error = None, e
                    else:
                        error = None
                        self.served[client] += 1
                    if not future.done():
                        future.set_exception(error) if error is not None else future.set_result(result)
                # back of the line only now, behind every client that asked while this one ran
                if queue:
                    self._queues.move_to_end(client)
                else:
                    del self._queues[client]

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
