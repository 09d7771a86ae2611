"""Policy server ⇄ client round trip on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from robo_reward.serving import PolicyClient, PolicyServerError
from robo_reward.serving.protocol import packb, unpackb
from robo_reward.serving.server import PolicyRunner, PolicyServer


@pytest.fixture
def server(tiny_policy):
    runner = PolicyRunner(tiny_policy)
    srv = PolicyServer(runner.infer, runner.metadata, host="127.0.0.1", port=0, max_size=2**20)
    srv.start_in_thread()
    yield srv, runner
    srv.stop()


def _obs(cfg, size=32, seed=0):
    rng = np.random.default_rng(seed)
    obs = {
        f"observation.images.{v}": rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for v in cfg.views
    }
    obs["observation.state"] = rng.standard_normal(cfg.state_dim).astype(np.float32)
    obs["task"] = "push the cube to the target"
    return obs


def test_protocol_round_trips_arrays_and_refuses_objects():
    msg = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.uint8(3), "s": "x", "n": [1, 2]}
    out = unpackb(packb(msg))
    assert out["a"].dtype == np.float32 and np.array_equal(out["a"], msg["a"])
    assert out["b"] == 3 and out["s"] == "x" and out["n"] == [1, 2]
    with pytest.raises(TypeError):
        packb({"x": np.array([object()])})
    bad = packb({"x": np.zeros(4, np.float32)}).replace(b"<f4", b"<f8")  # payload no longer fits the shape
    with pytest.raises(ValueError, match="does not fit"):
        unpackb(bad)


def test_round_trip_matches_local_inference(server, tiny_policy):
    srv, runner = server
    cfg = tiny_policy.config
    with PolicyClient("127.0.0.1", srv.port) as client:
        meta = client.get_server_metadata()
        assert meta["chunk_size"] == cfg.chunk_size and meta["views"] == list(cfg.views)
        obs = _obs(cfg)
        torch.manual_seed(0)
        reply = client.infer(obs)
        assert reply["actions"].shape == (cfg.chunk_size, cfg.action_dim)
        assert reply["actions"].dtype == np.float32 and reply["server_timing"]["infer_ms"] > 0
        torch.manual_seed(0)
        local = runner.infer(obs)["actions"]
        np.testing.assert_allclose(reply["actions"], local, atol=1e-6)
        # batched request
        batched = {k: np.stack([v, v]) for k, v in obs.items() if k != "task"}
        batched["task"] = [obs["task"]] * 2
        assert client.infer(batched)["actions"].shape == (2, cfg.chunk_size, cfg.action_dim)


def test_malformed_observations_get_errors_and_keep_the_connection(server, tiny_policy):
    srv, _ = server
    cfg = tiny_policy.config
    obs = _obs(cfg)
    with PolicyClient("127.0.0.1", srv.port) as client:
        cases = [
            ({k: v for k, v in obs.items() if k != "observation.images.wrist"}, "wrist"),
            ({**obs, "observation.state": np.zeros(cfg.state_dim + 2, np.float32)}, "observation.state"),
            (
                {**obs, "observation.images.front": obs["observation.images.front"].astype(np.float32)},
                "uint8",
            ),
            ({k: v for k, v in obs.items() if k != "task"}, "task"),
            ({**obs, "observation.state": np.full(cfg.state_dim, np.nan, np.float32)}, "finite"),
        ]
        for bad, needle in cases:
            with pytest.raises(PolicyServerError, match=needle):
                client.infer(bad)
        client._ws.send("not msgpack")  # a text frame
        assert "error" in unpackb(client._ws.recv())
        client._ws.send(b"\xc1garbage")
        assert "error" in unpackb(client._ws.recv())
        assert client.infer(obs)["actions"].shape == (cfg.chunk_size, cfg.action_dim)  # still usable


def test_oversized_messages_are_refused(server, tiny_policy):
    srv, _ = server
    obs = _obs(tiny_policy.config, size=400)  # 3 × 480 kB > max_size 1 MiB
    client = PolicyClient("127.0.0.1", srv.port)
    with pytest.raises(Exception):  # noqa: B017 - the server closes the connection (1009)
        client.infer(obs)
    with PolicyClient("127.0.0.1", srv.port) as fresh:  # the server itself carries on
        assert fresh.infer(_obs(tiny_policy.config))["actions"].ndim == 2


def test_client_imports_neither_torch_nor_models():
    code = (
        "import sys; from robo_reward.serving import PolicyClient; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('robo_reward.models')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_server_serves_a_steered_policy_folder(steered_policy_folder):
    """`robo-reward policy serve` on an RL fine-tune: its chunks are the SteeredPolicy's own."""
    from robo_reward.serving.server import checkpoint_runner

    policy, folder = steered_policy_folder
    runner = checkpoint_runner(str(folder))
    srv = PolicyServer(runner.infer, runner.metadata, host="127.0.0.1", port=0)
    srv.start_in_thread()
    try:
        with PolicyClient("127.0.0.1", srv.port) as client:
            assert client.get_server_metadata()["policy"] == "SteeredPolicy"
            obs = _obs(policy.config)
            reply = client.infer(obs)
    finally:
        srv.stop()
    batch = {k: [v] if k == "task" else v[None] for k, v in obs.items()}
    np.testing.assert_allclose(reply["actions"], policy.sample(batch)[0].numpy(), atol=1e-5)
