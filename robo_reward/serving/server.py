"""Websocket policy server: metadata first, then one action chunk per observation (openpi-style).

Malformed observations get an `{"error": ...}` reply and the connection stays open; oversized
messages are refused by websockets (`max_size`) and close that connection only.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY
from robo_reward.serving.protocol import DEFAULT_MAX_SIZE, packb, unpackb


class PolicyRunner:
    """Validates one observation (or a batch) against a FlowPolicy's contract and samples a chunk."""

    def __init__(self, policy, num_steps: int | None = None):
        import torch

        self.policy = policy.eval()
        self.num_steps = num_steps
        self._torch = torch
        c = policy.config
        self.metadata = {
            "policy": "FlowPolicy",
            "preset": c.preset,
            "views": list(c.views),
            "state_dim": c.state_dim,
            "action_dim": c.action_dim,
            "chunk_size": c.chunk_size,
            "n_action_steps": c.n_action_steps,
            "image_size": c.image_size,
            "num_inference_steps": num_steps or c.num_inference_steps,
        }

    def to_batch(self, obs: Any) -> tuple[dict, bool]:
        """Check an observation map; return it as a batch and whether the input was unbatched."""
        if not isinstance(obs, dict):
            raise ValueError(f"an observation must be a map, got {type(obs).__name__}")
        c = self.policy.config
        if STATE_KEY not in obs:
            raise ValueError(f"observation lacks {STATE_KEY!r}")
        state = np.asarray(obs[STATE_KEY], dtype=np.float32)
        single = state.ndim == 1
        state = state[None] if single else state
        if state.ndim != 2 or state.shape[1] != c.state_dim or not np.isfinite(state).all():
            raise ValueError(
                f"{STATE_KEY} must be finite ({c.state_dim},) or (B, {c.state_dim}), got {state.shape}"
            )
        B = state.shape[0]
        batch: dict[str, Any] = {STATE_KEY: state}
        for view in c.views:
            key = IMAGE_KEY + view
            if key not in obs:
                raise ValueError(f"observation lacks {key!r} (the policy needs views {list(c.views)})")
            img = np.asarray(obs[key])
            img = img[None] if single else img
            if img.ndim != 4 or img.shape[0] != B or img.shape[-1] != 3 or img.dtype != np.uint8:
                raise ValueError(
                    f"{key} must be uint8 (H, W, 3) per observation, got {img.dtype} {img.shape}"
                )
            batch[key] = img
        task = obs.get("task", obs.get("prompt"))
        if task is None:
            raise ValueError("observation lacks 'task' (the instruction)")
        tasks = [task] if isinstance(task, str) else list(task)
        if len(tasks) != B or not all(isinstance(t, str) for t in tasks):
            raise ValueError(f"'task' must be a string per observation ({B}), got {task!r}")
        batch["task"] = tasks
        return batch, single

    def infer(self, obs: Any) -> dict[str, Any]:
        batch, single = self.to_batch(obs)
        t0 = time.perf_counter()
        with self._torch.inference_mode():
            chunk = self.policy.sample(batch, num_steps=self.num_steps).cpu().numpy().astype(np.float32)
        infer_ms = (time.perf_counter() - t0) * 1e3
        return {"actions": chunk[0] if single else chunk, "server_timing": {"infer_ms": infer_ms}}


class PolicyServer:
    """Serves `infer(obs) -> reply` (e.g. `PolicyRunner.infer`) on ws://host:port."""

    def __init__(
        self,
        infer: Callable[[Any], dict],
        metadata: dict,
        host: str = "0.0.0.0",
        port: int = 8000,
        max_size: int = DEFAULT_MAX_SIZE,
    ):
        self.infer, self.metadata = infer, metadata
        self.host, self.port, self.max_size = host, port, max_size
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()  # one inference at a time; other clients wait their turn

    async def _handle(self, ws) -> None:
        await ws.send(packb(self.metadata))
        async for message in ws:
            try:
                if isinstance(message, str):
                    raise ValueError("send msgpack binary frames, not text")
                obs = unpackb(message)
                async with self._lock:
                    reply = await asyncio.to_thread(self.infer, obs)
            except Exception as e:  # a bad request costs that request only
                reply = {"error": f"{type(e).__name__}: {e}"}
            await ws.send(packb(reply))

    async def serve_async(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._handle, self.host, self.port, max_size=self.max_size) as server:
            self.port = server.sockets[0].getsockname()[1]  # the real port when 0 asked for any
            self._ready.set()
            await self._stop

    def serve_forever(self) -> None:
        asyncio.run(self.serve_async())

    def start_in_thread(self, timeout: float = 10.0) -> PolicyServer:
        """Serve from a daemon thread (tests, notebooks); returns once listening, `self.port` set."""
        threading.Thread(target=self.serve_forever, daemon=True, name="policy-server").start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"policy server did not start within {timeout}s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))


def serve_checkpoint(
    checkpoint: str,
    host: str = "0.0.0.0",
    port: int = 8000,
    device: str = "cpu",
    num_steps: int | None = None,
) -> None:
    from robo_reward.models.flow_policy import FlowPolicy

    runner = PolicyRunner(FlowPolicy.from_pretrained(checkpoint, device=device), num_steps=num_steps)
    PolicyServer(runner.infer, runner.metadata, host=host, port=port).serve_forever()
