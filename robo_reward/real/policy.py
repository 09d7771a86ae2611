"""policy node (lifecycle): synced observations → action chunks → safe commands at the control rate.

Lifecycle (`ros2 lifecycle set /policy configure|activate|deactivate|cleanup`, or `autostart`):
- configure: read the rig, load the policy (a local policy folder — FlowPolicy or an RL fine-tune
  steering one —, `random:<preset>`, a
  remote policy server `ws://host:port`, or the scripted `hold` / `constant` policies), create the
  command publishers and the synced-observation subscription;
- activate: an inference timer (also woken at once by each new observation) refills the
  action-chunk buffer from the newest observation, a
  publish timer streams one command per control period (the first action of a fresh chunk goes out
  at once and re-phases the publish timer, so latency is not padded by up to one period);
- deactivate: safe stop — the chunk is dropped and a hold command (current joints / zero twist) is
  sent; cleanup releases the policy. SIGINT/SIGTERM while active also sends the hold first.
Safety (robo_reward.real.safety) clamps every command: joint, velocity, gripper, speed, EE box;
then every command — holds, e-stop and deactivate included — passes the final gate
(robo_reward.real.command_gate: finite and inside the limits) inside the runner and again in the
only publisher of commands (robo_reward.real.command_io);
the watchdog holds when the newest observation is older than safety.yaml `watchdog_timeout`;
a synced part that cannot be used (bad image, NaN state, stamp from the future) is dropped,
counted in `~/status` `rejected` and logged (throttled per topic);
`~/estop` (Trigger) latches a hold until `~/reset_estop`. `~/status` reports all counters;
`~/timing` (Float64MultiArray) = [observation stamp, inference start, inference end, publish time]
in seconds for the first command of every chunk.
"""

from __future__ import annotations

import threading
import time

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from robo_reward.real.backends import make_backend
from robo_reward.real.command_io import GatedCommandPublisher
from robo_reward.real.inputs import DEFAULT_MAX_STAMP_LEAD, InputGuard
from robo_reward.real.params import Param, declare
from robo_reward.real.policy_core import COMMAND_INTERFACES, ArmSpec, Command, PolicyRunner
from robo_reward.real.rig import load_rig, resolve_path, resolve_task
from robo_reward.real.ros_io import (
    RELIABLE_QOS,
    SYNCED_PREFIX,
    StatusTimer,
    SyncedSubscriber,
    array_msg,
    now_ns,
    run_node,
)
from robo_reward.real.safety import SafetyFilter, SafetyLimits

PARAMS = (
    Param("rig", "sim", "rig folder under real/ (or a path): robot.yaml, cameras.yaml, safety.yaml"),
    Param("policy", "flow", "backend: flow (local policy folder) | remote (policy server) | hold | constant"),
    Param("checkpoint", "", "flow: checkpoint folder or random:<preset>; remote: ws://host:port"),
    Param("task", "", "instruction text, or a registered sim task name (its instruction is used)"),
    Param(
        "command_interface",
        "twist",
        "joint_trajectory | position_array (joint actions) | twist (ee_delta actions)",
    ),
    Param("control_rate", 10.0, "commands per second (the policy's action rate)"),
    Param(
        "inference_rate",
        30.0,
        "inference timer rate (Hz): it refills a buffer running low; new observations wake it too",
    ),
    Param("n_action_steps", 4, "actions executed from each chunk before it is replaced (receding horizon)"),
    Param("replan_threshold", 0, "infer again once at most this many actions are left in the buffer"),
    Param("constant_action", [0.0], "the action of the `constant` policy", type="double_array"),
    Param("device", "cpu", "torch device of a local policy"),
    Param("num_inference_steps", 0, "Euler steps per chunk (0 = the checkpoint's default)"),
    Param("torch_threads", 0, "intra-op threads of a local policy (0 = torch's default)"),
    Param("seed", 0, "seed of the policy's sampling noise (and of a random:<preset> init)"),
    Param("autostart", False, "configure and activate on start-up (no lifecycle manager needed)"),
    Param("input_prefix", SYNCED_PREFIX, "prefix of camera_sync's synced observation topics"),
)


class PolicyNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__("policy")
        self.p = declare(self, PARAMS)
        if self.p.command_interface not in COMMAND_INTERFACES:
            raise ValueError(
                f"command_interface must be one of {sorted(COMMAND_INTERFACES)}, got {self.p.command_interface!r}"
            )
        self.lock = threading.Lock()
        self.runner: PolicyRunner | None = None
        self.backend = None
        self._active_timers: list = []
        self._io_group = MutuallyExclusiveCallbackGroup()
        # Inference runs on its own thread, outside the executor: a long callback in a busy callback
        # group makes rclpy's MultiThreadedExecutor spin hot (100 % CPU at 30 Hz × 3 cameras) and
        # starves inference of the GIL (seconds-long stalls). A new observation wakes the thread at
        # once; it also wakes every 1/inference_rate s to refill a buffer running low.
        self._infer_wake = threading.Event()
        self._infer_stop = threading.Event()
        self._infer_thread: threading.Thread | None = None
        self.create_service(Trigger, "~/estop", self.on_estop)
        self.create_service(Trigger, "~/reset_estop", self.on_reset_estop)
        self.timing_pub = self.create_publisher(Float64MultiArray, "~/timing", RELIABLE_QOS)
        self.last_reasons: tuple[str, ...] = ()
        self.guard = InputGuard(max_stamp_lead=DEFAULT_MAX_STAMP_LEAD)
        self.output: GatedCommandPublisher | None = None
        self._refused_seen = 0  # commands the gate refused, as of the last warning
        StatusTimer(self, self.status)
        if self.p.autostart:
            self._autostart = self.create_timer(0.01, self._start)

    def _start(self) -> None:
        self._autostart.cancel()
        self.destroy_timer(self._autostart)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # lifecycle ----------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self.p
        try:
            rig = load_rig(p.rig)
            self.arm = arm = ArmSpec.from_config(rig.robot)
            action_space = COMMAND_INTERFACES[p.command_interface]
            action_dim = len(arm.joint_names) + 1 if action_space == "joint" else 7
            state_dim = len(arm.state_names) if rig.robot.get("ee_pose_topic") else len(arm.joint_names) + 1
            if p.torch_threads > 0 and p.policy == "flow":
                import torch

                torch.set_num_threads(p.torch_threads)
            self.backend = make_backend(
                p.policy,
                checkpoint=resolve_path(p.checkpoint),
                action=list(p.constant_action),
                action_dim=action_dim,
                state_dim=state_dim,
                views=rig.views,
                device=p.device,
                num_steps=p.num_inference_steps,
                seed=p.seed,
            )
            self.runner = PolicyRunner(
                self.backend,
                arm,
                SafetyFilter(SafetyLimits.from_config(rig.robot, rig.safety)),
                action_space=action_space,
                control_period=1.0 / p.control_rate,
                task=resolve_task(p.task),
                n_action_steps=p.n_action_steps,
                replan_threshold=p.replan_threshold,
                max_stamp_lead=rig.max_stamp_lead,
            )
        except Exception as e:
            self.get_logger().error(f"configure failed: {type(e).__name__}: {e}")
            self.backend = None
            return TransitionCallbackReturn.FAILURE
        cmd = rig.robot["command"]
        self.guard.max_stamp_lead = rig.max_stamp_lead
        self.output = GatedCommandPublisher(
            self, self.runner.gate, p.command_interface, cmd, arm.joint_names,
            rig.robot.get("base_frame", "base_link"), 1.0 / p.control_rate,
        )  # fmt: skip
        self.synced = SyncedSubscriber(
            self, rig.views, self.on_observation, self.guard, p.input_prefix, self._io_group
        )
        self.get_logger().info(
            f"configured: {p.policy} {p.checkpoint if p.policy in ('flow', 'remote') else ''} → "
            f"{p.command_interface} on {cmd[p.command_interface]} at {p.control_rate} Hz"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self.lock:
            self.runner.activate()
        self._active_timers = [
            self.create_timer(1.0 / self.p.control_rate, self.on_publish_timer, self._io_group)
        ]
        self._infer_stop.clear()
        self._infer_thread = threading.Thread(target=self._inference_loop, name="inference", daemon=True)
        self._infer_thread.start()
        self.get_logger().info("active: streaming commands")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_timers()
        with self.lock:
            self._publish(self.runner.deactivate())
        self.get_logger().info("inactive: holding")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def _stop_timers(self) -> None:
        self._infer_stop.set()
        self._infer_wake.set()
        if self._infer_thread is not None and self._infer_thread is not threading.current_thread():
            self._infer_thread.join(timeout=10.0)
        self._infer_thread = None
        for t in self._active_timers:
            t.cancel()
            self.destroy_timer(t)
        self._active_timers = []

    def _release(self) -> None:
        self._stop_timers()
        if self.runner is not None:
            self.synced.destroy(self)
            self.output.destroy()
            self.output, self._refused_seen = None, 0
            self.backend.close()
            self.runner = self.backend = None

    def close(self) -> None:
        """Process exit: hold first if commands are flowing, then release everything."""
        if self.runner is not None and self.runner.active:
            self._stop_timers()
            with self.lock:
                cmd = self.runner.deactivate()
                self._publish(cmd)
            # DDS delivers asynchronously: give the hold time to reach the controller before the
            # publisher is destroyed with the process.
            time.sleep(0.3)
        self._release()

    # data flow ----------------------------------------------------------------------------------
    def on_observation(self, obs) -> None:
        """A full synced bundle; BadInput (counted by the subscription's guard) if unusable."""
        if self.runner is not None:
            with self.lock:
                self.runner.observe(obs, now_ns(self) * 1e-9)
                wake = self.runner.wants_inference()
            if wake:
                self._infer_wake.set()

    def _inference_loop(self) -> None:
        period = 1.0 / self.p.inference_rate
        while not self._infer_stop.is_set():
            self._infer_wake.wait(period)
            self._infer_wake.clear()
            if self._infer_stop.is_set():
                break
            try:
                self.on_inference()
            except Exception as e:  # keep the loop alive; the watchdog holds the arm meanwhile
                self.get_logger().error(
                    f"inference step failed: {type(e).__name__}: {e}", throttle_duration_sec=2.0
                )

    def on_inference(self) -> None:
        with self.lock:
            taken = self.runner.take_observation() if self.runner is not None else None
        if taken is None:
            return
        obs, contract = taken
        t0 = time.time()
        try:
            chunk = self.backend.infer(contract)
        except Exception as e:
            self.get_logger().error(
                f"inference failed, holding: {type(e).__name__}: {e}", throttle_duration_sec=2.0
            )
            return
        t1 = time.time()
        with self.lock:
            self.runner.set_chunk(obs, chunk)
            sent = self._tick()
        if sent is not None and sent.first_of_chunk:
            if self._active_timers:
                self._active_timers[0].reset()  # the next command one full period after this one
            self.timing_pub.publish(array_msg([obs.stamp, t0, t1, time.time()]))

    def on_publish_timer(self) -> None:
        with self.lock:
            sent = self._tick()
        if sent is not None and sent.first_of_chunk:
            self.timing_pub.publish(array_msg([sent.obs_stamp, float("nan"), float("nan"), time.time()]))

    def _tick(self) -> Command | None:
        if self.runner is None:
            return None
        return self._publish(self.runner.tick(now_ns(self) * 1e-9))

    def _publish(self, cmd: Command | None) -> Command | None:
        """Every command leaves through the gated publisher; returns what was sent."""
        sent = self.output.publish(cmd) if self.output is not None else None
        refused = self.runner.gate.refused if self.runner is not None else 0
        if refused > self._refused_seen:
            self.get_logger().warning(
                "a NaN/inf command before any finite one: nothing sent", throttle_duration_sec=2.0
            )
        self._refused_seen = refused
        if sent is None:
            return None
        self.last_reasons = sent.reasons
        gated = [r for r in sent.reasons if r.startswith("gate_")]
        if gated:
            self.get_logger().warning(
                f"command corrected by the gate: {', '.join(sent.reasons)}", throttle_duration_sec=2.0
            )
        elif sent.reasons and not sent.hold:
            self.get_logger().warning(
                f"command clamped: {', '.join(sent.reasons)}", throttle_duration_sec=2.0
            )
        return sent

    # services and status ------------------------------------------------------------------------
    def on_estop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.lock:
            if self.runner is None:
                response.success, response.message = False, "not configured: nothing to stop"
                return response
            self.runner.estop.trigger("service")
            self._publish(self.runner.hold("estop"))
        self.get_logger().warning("E-STOP engaged: holding until ~/reset_estop")
        response.success, response.message = True, "e-stop engaged (latched)"
        return response

    def on_reset_estop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.lock:
            if self.runner is not None:
                self.runner.estop.reset()
        response.success, response.message = True, "e-stop released"
        return response

    def status(self) -> dict:
        with self.lock:
            r = self.runner
            if r is None:
                return {"state": "unconfigured"}
            now = now_ns(self) * 1e-9
            hold_reason = r.hold_reason(now)  # first: it updates the watchdog's trip count
            return {
                "active": r.active,
                "estop": r.estop.engaged,
                "watchdog_age_s": min(r.watchdog.age(now), 1e9),
                "watchdog_trips": r.watchdog.trips,
                "hold_reason": hold_reason,
                "buffer": len(r.buffer),
                **r.counts,
                "clamps": dict(r.safety.counts),
                "gate": {**r.gate.counts, "refused": r.gate.refused},
                "watchdog_clamped_stamps": r.watchdog.clamped,
                "rejected": self.guard.as_dict(),
                "unexpected_errors": self.guard.unexpected,
                "last_reasons": list(self.last_reasons),
            }


def main(args: list[str] | None = None) -> None:
    raise SystemExit(run_node(PolicyNode, args))


if __name__ == "__main__":
    main()
