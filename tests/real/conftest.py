"""ROS test settings: every test that touches rclpy gets its own random ROS_DOMAIN_ID (1..100),
localhost-only discovery and a private log directory, in this process and in the nodes it starts."""

from __future__ import annotations

import os

import pytest

from robo_reward.real.ros_env_vars import node_environment, random_domain_id


@pytest.fixture
def ros_env(tmp_path, monkeypatch) -> dict[str, str]:
    """The environment for node subprocesses; this process gets the same domain (for a Probe)."""
    pytest.importorskip("rclpy", reason="rclpy missing: install the `ros` extra (pip install -e '.[ros]')")
    domain = random_domain_id()
    env = node_environment(domain_id=domain, log_dir=str(tmp_path / "ros_log"))
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR"):
        monkeypatch.setenv(key, env[key])
    env.setdefault("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    return env
