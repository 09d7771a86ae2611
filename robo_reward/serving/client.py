"""`PolicyClient(host, port).infer(obs) -> {"actions": (H, A), ...}` — no torch, no robo_reward models."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from robo_reward.serving.protocol import DEFAULT_MAX_SIZE, TOKEN_ENV, packb, unpackb


class PolicyServerError(RuntimeError):
    """The server answered a request with an error (the connection is still usable)."""


class PolicyClient:
    """Synchronous client of `robo-reward policy serve`.

    obs: `observation.images.<view>` (H, W, 3) uint8, `observation.state` (D,) float32, `task` str
    (or the same with a leading batch dimension and `task` a list). Reconnects until `connect_timeout`.
    `token`: the server's shared secret (default: $ROBO_REWARD_POLICY_TOKEN, if set).
    `connect_kwargs` go to `websockets.sync.client.connect` (e.g. `source_address`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        connect_timeout: float = 30.0,
        max_size: int = DEFAULT_MAX_SIZE,
        token: str | None = None,
        **connect_kwargs: Any,
    ):
        self.uri = f"ws://{host}:{port}"
        self._stack = contextlib.ExitStack()
        token = token or os.environ.get(TOKEN_ENV) or None
        headers = {"Authorization": f"Bearer {token}"} if token else None
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self._ws = self._stack.enter_context(
                    connect(self.uri, max_size=max_size, open_timeout=connect_timeout,
                            additional_headers=headers, **connect_kwargs)
                )  # fmt: skip
                break
            except InvalidStatus as e:
                status = e.response.status_code
                hint = (
                    f"give the server's token (token=... or ${TOKEN_ENV})" if status == 401 else "see its log"
                )
                raise PolicyServerError(
                    f"{self.uri} refused the connection (HTTP {status}): {hint}"
                ) from None
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
        actions = np.asarray(reply.get("actions", []))
        if actions.dtype.kind == "f" and not np.all(np.isfinite(actions)):
            raise PolicyServerError("the server sent actions with NaN/inf: refused")
        return reply

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
