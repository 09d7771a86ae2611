"""An in-process rclpy node that watches and pokes a running graph: for tests and benchmarks.

    with Probe() as probe:
        cmds = probe.record("/servo_node/delta_twist_cmds", TwistStamped)
        probe.wait_for(lambda: len(cmds) > 5, timeout=20)
        probe.call(Trigger, "/recorder/start")

It spins its own context on a background thread, so callers simply read the recorded lists.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from std_msgs.msg import String

from robo_reward.real.ros_env_vars import prepare_process
from robo_reward.real.ros_io import RELIABLE_QOS


class Probe:
    def __init__(self, name: str = "probe") -> None:
        prepare_process()
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._statuses: dict[str, dict] = {}
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down under us
                if self.context.ok():
                    raise
                return

    # topics -------------------------------------------------------------------------------------
    def record(self, topic: str, msg_type: Any, qos: QoSProfile = RELIABLE_QOS) -> list[tuple[float, Any]]:
        """A list that fills with (receive time.time(), message) for every message on `topic`."""
        out: list[tuple[float, Any]] = []
        self.node.create_subscription(msg_type, topic, lambda m: out.append((time.time(), m)), qos)
        return out

    def publisher(self, topic: str, msg_type: Any, qos: QoSProfile = RELIABLE_QOS):
        return self.node.create_publisher(msg_type, topic, qos)

    def watch_status(self, node_name: str) -> None:
        """Keep the newest `~/status` JSON of a node (read it with `status(node_name)`)."""

        def keep(msg: String) -> None:
            self._statuses[node_name] = json.loads(msg.data)

        self.node.create_subscription(String, f"/{node_name}/status", keep, RELIABLE_QOS)

    def status(self, node_name: str) -> dict:
        return dict(self._statuses.get(node_name, {}))

    # services -----------------------------------------------------------------------------------
    def call(self, srv_type: Any, name: str, request: Any = None, timeout: float = 10.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available after {timeout}s")
            future = client.call_async(request if request is not None else srv_type.Request())
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout):
                raise TimeoutError(f"service {name} did not answer within {timeout}s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_parameter(self, node_name: str, name: str, value: Any, timeout: float = 10.0) -> bool:
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        return all(
            r.successful
            for r in self.call(SetParameters, f"/{node_name}/set_parameters", req, timeout).results
        )

    def change_state(self, node_name: str, transition: str, timeout: float = 30.0) -> bool:
        """Lifecycle transition by label: configure, activate, deactivate, cleanup, shutdown."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        tid = getattr(Transition, f"TRANSITION_{transition.upper()}")
        req = ChangeState.Request(transition=Transition(id=tid))
        return bool(self.call(ChangeState, f"/{node_name}/change_state", req, timeout).success)

    def lifecycle_state(self, node_name: str, timeout: float = 10.0) -> str:
        from lifecycle_msgs.srv import GetState

        return self.call(GetState, f"/{node_name}/get_state", None, timeout).current_state.label

    # waiting ------------------------------------------------------------------------------------
    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(poll)
        return bool(predicate())

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=2.0)

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
