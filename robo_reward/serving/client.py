"""`PolicyClient(host, port).infer(obs) -> {"actions": (H, A), ...}` — no torch, no robo_reward models."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from websockets.sync.client import connect

from robo_reward.serving.protocol import DEFAULT_MAX_SIZE, packb, unpackb


class PolicyServerError(RuntimeError):
    """The server answered a request with an error (the connection is still usable)."""


class PolicyClient:
    """Synchronous client of `robo-reward policy serve`.

    obs: `observation.images.<view>` (H, W, 3) uint8, `observation.state` (D,) float32, `task` str
    (or the same with a leading batch dimension and `task` a list). Reconnects until `connect_timeout`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        connect_timeout: float = 30.0,
        max_size: int = DEFAULT_MAX_SIZE,
    ):
        self.uri = f"ws://{host}:{port}"
        self._stack = contextlib.ExitStack()
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self._ws = self._stack.enter_context(
                    connect(self.uri, max_size=max_size, open_timeout=connect_timeout)
                )
                break
            except (ConnectionRefusedError, OSError):
                if time.monotonic() > deadline:
                    raise ConnectionError(
                        f"no policy server at {self.uri} after {connect_timeout}s"
                    ) from None
                time.sleep(0.2)
        self.metadata: dict = unpackb(self._ws.recv())

    def get_server_metadata(self) -> dict:
        return self.metadata

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        self._ws.send(packb(obs))
        reply = unpackb(self._ws.recv())
        if "error" in reply:
            raise PolicyServerError(reply["error"])
        return reply

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
