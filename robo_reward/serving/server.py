"""Websocket policy server: metadata first, then one action chunk per observation (openpi-style).

- It listens on 127.0.0.1 unless told another `host` (0.0.0.0: every interface).
- With a `token`, a client must send `Authorization: Bearer <token>` in its handshake (the client
  does, from its `token` argument or ROBO_REWARD_POLICY_TOKEN); others get HTTP 401.
- Malformed observations get an `{"error": ...}` reply and the connection stays open; so do
  NaN/inf anywhere in the request, and a policy answer with NaN/inf in it (never sent as actions).
  Oversized messages are refused by websockets (`max_size`) and close that connection only.
- Every refused request is logged (logger `robo_reward.serving`, throttled per client).
- Inference runs one request at a time, round robin over clients (`FairScheduler`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import numpy as np

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY
from robo_reward.real.inputs import BadInput, InputGuard
from robo_reward.serving.protocol import DEFAULT_MAX_SIZE, TOKEN_ENV, packb, unpackb
from robo_reward.serving.scheduler import Busy, FairScheduler

log = logging.getLogger("robo_reward.serving")
DEFAULT_HOST = "127.0.0.1"


def non_finite_fields(obj: Any, path: str = "") -> list[str]:
    """Where a request or reply holds NaN/inf: the paths of its float arrays and numbers."""
    if isinstance(obj, dict):
        return [
            p
            for k, v in obj.items()
            for p in non_finite_fields(v, f"{path}{k}" if not path else f"{path}.{k}")
        ]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in non_finite_fields(v, f"{path}[{i}]")]
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f" and not np.all(np.isfinite(obj)):
        return [path or "value"]
    if isinstance(obj, float) and not np.isfinite(obj):
        return [path or "value"]
    return []


class BadRequest(BadInput):
    """An observation that does not fit the policy's contract."""

    kind = "bad_request"


class PolicyRunner:
    """Validates one observation (or a batch) against a policy's contract and samples a chunk
    (any policy with a FlowPolicy's `config` and `sample`: a FlowPolicy or a SteeredPolicy)."""

    def __init__(self, policy, num_steps: int | None = None):
        import torch

        self.policy = policy.eval()
        self.num_steps = num_steps
        self._torch = torch
        c = policy.config
        self.metadata = {
            "policy": type(policy).__name__,  # FlowPolicy, or SteeredPolicy for an RL fine-tune
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
            raise BadRequest(f"an observation must be a map, got {type(obs).__name__}")
        c = self.policy.config
        if STATE_KEY not in obs:
            raise BadRequest(f"observation lacks {STATE_KEY!r}")
        state = np.asarray(obs[STATE_KEY], dtype=np.float32)
        single = state.ndim == 1
        state = state[None] if single else state
        if state.ndim != 2 or state.shape[1] != c.state_dim or not np.isfinite(state).all():
            raise BadRequest(
                f"{STATE_KEY} must be finite ({c.state_dim},) or (B, {c.state_dim}), got {state.shape}"
            )
        B = state.shape[0]
        batch: dict[str, Any] = {STATE_KEY: state}
        for view in c.views:
            key = IMAGE_KEY + view
            if key not in obs:
                raise BadRequest(f"observation lacks {key!r} (the policy needs views {list(c.views)})")
            img = np.asarray(obs[key])
            img = img[None] if single else img
            if img.ndim != 4 or img.shape[0] != B or img.shape[-1] != 3 or img.dtype != np.uint8:
                raise BadRequest(
                    f"{key} must be uint8 (H, W, 3) per observation, got {img.dtype} {img.shape}"
                )
            batch[key] = img
        task = obs.get("task", obs.get("prompt"))
        if task is None:
            raise BadRequest("observation lacks 'task' (the instruction)")
        tasks = [task] if isinstance(task, str) else list(task)
        if len(tasks) != B or not all(isinstance(t, str) for t in tasks):
            raise BadRequest(f"'task' must be a string per observation ({B}), got {task!r}")
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
        host: str = DEFAULT_HOST,
        port: int = 8000,
        max_size: int = DEFAULT_MAX_SIZE,
        token: str | None = None,
        max_pending_per_client: int = 8,
    ):
        self.infer, self.metadata = infer, metadata
        self.host, self.port, self.max_size = host, port, max_size
        self.token = token or None
        self.scheduler = FairScheduler(max_pending_per_client)
        self.rejections = InputGuard(warn_period=1.0, verb="rejected a request from")  # per client
        self.bound: tuple | None = None  # the address actually listened on
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _reject(self, client: str, error: Exception) -> dict:
        warning = self.rejections.reject(client, error, time.monotonic())
        if warning is not None:
            log.warning(warning)
        return {"error": str(error) if isinstance(error, BadInput) else f"{type(error).__name__}: {error}"}

    def _authorize(self, connection, request):
        """websockets' process_request hook: HTTP 401 without the right bearer token."""
        if self.token is None:
            return None
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode()):
            return None
        client = connection.remote_address[0] if connection.remote_address else "?"
        problem = "no token" if not sent else "a wrong token"
        self._reject(client, BadInput(f"handshake with {problem}", "unauthorized"))
        return connection.respond(HTTPStatus.UNAUTHORIZED, "a valid policy server token is required\n")

    def _checked_infer(self, obs: Any) -> dict:
        reply = self.infer(obs)
        bad = non_finite_fields(reply)
        if bad:
            raise BadInput(f"the policy produced NaN/inf in {bad}: not sent", "non_finite_output")
        return reply

    async def _handle(self, ws) -> None:
        client = ws.remote_address[0] if ws.remote_address else "?"
        await ws.send(packb(self.metadata))
        async for message in ws:
            try:
                if isinstance(message, str):
                    raise BadInput("send msgpack binary frames, not text", "text_frame")
                try:
                    obs = unpackb(message)
                except Exception as e:
                    raise BadInput(
                        f"not a msgpack observation: {type(e).__name__}: {e}", "unreadable"
                    ) from None
                bad = non_finite_fields(obs)
                if bad:
                    raise BadInput(f"NaN/inf in {bad}: requests must be finite", "non_finite_input")
                reply = await self.scheduler.run(client, self._checked_infer, obs)
            except Busy as e:
                reply = self._reject(client, BadInput(str(e), "busy"))
            except Exception as e:  # a bad request costs that request only
                reply = self._reject(client, e)
            await ws.send(packb(reply))

    async def serve_async(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(
            self._handle, self.host, self.port, max_size=self.max_size, process_request=self._authorize
        ) as server:
            self.bound = server.sockets[0].getsockname()
            self.port = self.bound[1]  # the real port when 0 asked for any
            self._ready.set()
            await self._stop
        self.scheduler.close()

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


def checkpoint_runner(checkpoint: str, device: str = "cpu", num_steps: int | None = None) -> PolicyRunner:
    """The runner of a policy folder: a plain FlowPolicy, or a SteeredPolicy (`load_policy`)."""
    from robo_reward.models.flow_policy.steering import load_policy

    return PolicyRunner(load_policy(checkpoint, device=device), num_steps=num_steps)


def serve_checkpoint(
    checkpoint: str,
    host: str = DEFAULT_HOST,
    port: int = 8000,
    device: str = "cpu",
    num_steps: int | None = None,
    token: str | None = None,
) -> None:
    """Serve a policy folder (a FlowPolicy or an RL fine-tune steering one); `token` (default:
    $ROBO_REWARD_POLICY_TOKEN) guards it."""
    import os

    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(f"listening on {host} without a token: anyone who reaches this port drives the policy")
    runner = checkpoint_runner(checkpoint, device=device, num_steps=num_steps)
    PolicyServer(runner.infer, runner.metadata, host=host, port=port, token=token).serve_forever()
