"""The policy server's guards, with a stub policy: where it listens, the token, NaN/inf in requests
and replies, logging of refused requests, and fairness between a flooding client and another."""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
import time

import numpy as np
import pytest
from websockets.sync.client import connect

from robo_reward.commands.policy import serve
from robo_reward.serving import PolicyClient, PolicyServerError
from robo_reward.serving.protocol import packb, unpackb
from robo_reward.serving.server import PolicyServer, serve_checkpoint


class StubPolicy:
    """Replies with a (2, 3) chunk; `nan_out` in the request makes it NaN; records who asked."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.order, self.starts = delay, [], []
        self.started, self.release = threading.Event(), threading.Event()
        self.release.set()

    def __call__(self, obs: dict) -> dict:
        self.order.append(obs.get("who", "?"))
        self.starts.append(time.monotonic())
        self.started.set()
        self.release.wait(10.0)
        time.sleep(self.delay)
        fill = np.nan if obs.get("nan_out") else 0.5
        return {"actions": np.full((2, 3), fill, np.float32)}


def _server(policy, **kw) -> PolicyServer:
    return PolicyServer(policy, {"policy": "stub"}, port=0, **kw).start_in_thread()


def test_listens_on_loopback_unless_told_otherwise():
    srv = _server(StubPolicy())
    try:
        assert srv.host == "127.0.0.1" and srv.bound[0] == "127.0.0.1"
    finally:
        srv.stop()
    for fn in (serve, serve_checkpoint, PolicyServer):
        assert inspect.signature(fn).parameters["host"].default == "127.0.0.1", fn


def test_token_is_required_when_set(monkeypatch, caplog):
    srv = _server(StubPolicy(), token="s3cret")
    try:
        with caplog.at_level(logging.WARNING, logger="robo_reward.serving"):
            for token in (None, "guess"):
                with pytest.raises(PolicyServerError, match="HTTP 401"):
                    PolicyClient("127.0.0.1", srv.port, connect_timeout=5.0, token=token)
        assert "rejected a request from 127.0.0.1: handshake with no token" in caplog.text
        with PolicyClient("127.0.0.1", srv.port, token="s3cret") as client:
            assert client.infer({"x": 1})["actions"].shape == (2, 3)
        monkeypatch.setenv("ROBO_REWARD_POLICY_TOKEN", "s3cret")
        with PolicyClient("127.0.0.1", srv.port) as client:
            assert client.get_server_metadata() == {"policy": "stub"}
    finally:
        srv.stop()


def test_non_finite_requests_and_replies_are_errors_and_logged(caplog):
    srv = _server(StubPolicy())
    try:
        with (
            caplog.at_level(logging.WARNING, logger="robo_reward.serving"),
            connect(f"ws://127.0.0.1:{srv.port}") as ws,
        ):
            unpackb(ws.recv())  # metadata
            ws.send(packb({"observation.state": np.array([0.0, np.inf], np.float32)}))
            assert "NaN/inf in ['observation.state']" in unpackb(ws.recv())["error"]
            ws.send(packb({"nan_out": True}))
            reply = unpackb(ws.recv())
            assert "actions" not in reply and "the policy produced NaN/inf" in reply["error"]
            ws.send(packb({"ok": 1.0}))  # the connection is still usable
            assert np.all(unpackb(ws.recv())["actions"] == 0.5)
        assert caplog.text.count("rejected a request from 127.0.0.1") == 1  # throttled: 1 line/s
        assert srv.rejections.as_dict() == {"127.0.0.1": {"non_finite_input": 1, "non_finite_output": 1}}
    finally:
        srv.stop()


def test_a_flooding_client_does_not_starve_another():
    """Six connections from 127.0.0.1 send back to back; a client on 127.0.0.2 asks eight times.
    Round robin over clients: once it has asked, no flood request starts before its own (the one
    running when it asked finishes first); first come, first served over connections let the five
    other flood requests waiting at that moment go first."""
    policy = StubPolicy(delay=0.005)
    srv = _server(policy)
    uri, stop = f"ws://127.0.0.1:{srv.port}", threading.Event()

    def flood() -> None:
        with connect(uri) as ws:
            ws.recv()
            while not stop.is_set():
                ws.send(packb({"who": "F"}))
                ws.recv()

    flooders = [threading.Thread(target=flood, daemon=True) for _ in range(6)]
    asked = []
    try:
        for t in flooders:
            t.start()
        time.sleep(0.2)
        with connect(uri, source_address=("127.0.0.2", 0)) as ws:
            ws.recv()
            for _ in range(8):
                asked.append(time.monotonic())
                ws.send(packb({"who": "P"}))
                assert unpackb(ws.recv())["actions"].shape == (2, 3)
    finally:
        stop.set()
        for t in flooders:
            t.join(5.0)
        srv.stop()
    starts = list(zip(policy.order, policy.starts, strict=True))
    served = [t for who, t in starts if who == "P"]
    overtaken = [
        sum(who == "F" and sent < t < done for who, t in starts)
        for sent, done in zip(asked, served, strict=True)
    ]
    # one F may be counted when the worker picked it just before the request came in
    assert len(served) == 8 and max(overtaken) <= 1, (overtaken, "".join(policy.order))


def test_a_client_may_keep_only_so_many_requests_waiting():
    policy = StubPolicy()
    policy.release.clear()
    srv = _server(policy, max_pending_per_client=2)
    uri = f"ws://127.0.0.1:{srv.port}"
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(uri)) for _ in range(5)]
        for ws in sockets:
            ws.recv()
        sockets[0].send(packb({"who": "0"}))
        assert policy.started.wait(5.0)  # the first one runs; two may wait, two more are refused
        for k, ws in enumerate(sockets[1:], 1):
            ws.send(packb({"who": str(k)}))
            time.sleep(0.05)
        refused = [unpackb(ws.recv()) for ws in sockets[3:]]
        assert all("already waiting (at most 2)" in r["error"] for r in refused)
        policy.release.set()
        assert all(unpackb(ws.recv())["actions"].shape == (2, 3) for ws in sockets[:3])
        assert policy.order == ["0", "1", "2"]
    srv.stop()
