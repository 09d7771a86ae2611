"""The ROS 2 `reward` node (console script `robo-reward-reward`): synced observations → progress,
shaped reward, success. A thin rclpy shell over `reward_core`; the reward sources themselves are
`robo_reward.rewards`, and the sim's bounded progress primitives are `robo_reward.sim.primitives`.

Subscribes to camera_sync's `/robo_reward/synced/*` and (source `oracle`) the sim's debug topics.
`source` is any registered progress source (robo_reward.rewards.sources): `grm` or `perceptual`
with a `checkpoint`, `oracle` for the sim's privileged progress, `sparse` for none.
Publishes per synced observation `/robo_reward/progress` (Float32, Φ in [0, 1]),
`/robo_reward/reward` (Float32, r = r_success + γ·Φ' − Φ; 0 for an episode's first observation)
and `/robo_reward/success` (Bool). `~/reset` (Trigger) restarts the source (the GRM's online
fusion) at episode start: the next observation becomes s_init. A message that cannot be used (a bad synced part, a
NaN progress) is dropped, counted in `~/status` `rejected` and logged (throttled per topic).
"""

from __future__ import annotations

from rclpy.node import Node
from std_msgs.msg import Bool, Float32
from std_srvs.srv import Trigger

from robo_reward.real.inputs import InputGuard
from robo_reward.real.params import Param, declare
from robo_reward.real.reward_core import DebugTruth, RewardCore
from robo_reward.real.rig import load_rig, resolve_path, resolve_task
from robo_reward.real.ros_io import (
    RELIABLE_QOS,
    SYNCED_PREFIX,
    StatusTimer,
    SyncedSubscriber,
    run_node,
    subscribe,
)
from robo_reward.rewards.shaping import ShapingConfig
from robo_reward.rewards.sources import SOURCES, make_source

PARAMS = (
    Param("rig", "sim", "rig folder under real/ (or a path): the views to expect"),
    Param("source", "grm", f"progress source: {' | '.join(SOURCES)} (oracle: the sim's debug progress)"),
    Param("checkpoint", "", "checkpoint folder of a learned source (grm, perceptual)"),
    Param("task", "", "instruction text, or a registered sim task name"),
    Param(
        "goal_dataset",
        "",
        "LeRobot dataset holding a reference demo (its last frame is the goal); "
        "empty: the checkpoint's stored reference for the task",
    ),  # fmt: skip
    Param("goal_episode", 0, "episode index of the reference demo in goal_dataset"),
    Param("gamma", 0.99, "discount of the potential-based shaping"),
    Param("shaping", "pbrs", "pbrs (policy invariant) | difference | potential (baselines)"),
    Param("success_delta", 0.05, "success when progress ≥ 1 − success_delta"),
    Param("device", "cpu", "torch device of a learned source"),
    Param("input_prefix", SYNCED_PREFIX, "prefix of camera_sync's synced observation topics"),
    Param("output_prefix", "/robo_reward", "progress, reward and success are published under this prefix"),
    Param("debug_prefix", "/robo_reward/debug", "prefix of the sim's privileged progress/success topics"),
)


class RewardNode(Node):
    def __init__(self) -> None:
        super().__init__("reward")
        self.p = p = declare(self, PARAMS)
        rig = load_rig(p.rig)
        self.task = resolve_task(p.task)
        self.guard = guard = InputGuard(max_stamp_lead=rig.max_stamp_lead)
        self.truth = None
        if p.source == "oracle":
            self.truth = truth = DebugTruth()
            subscribe(self, guard, Float32, f"{p.debug_prefix}/progress",
                      lambda m: truth.feed(progress=m.data), RELIABLE_QOS)  # fmt: skip
            subscribe(self, guard, Bool, f"{p.debug_prefix}/success",
                      lambda m: truth.feed(success=m.data), RELIABLE_QOS)  # fmt: skip
        options = {}
        if p.source == "grm" and p.goal_dataset:
            from robo_reward.data.lerobot_io import load_episodes

            options["goals"] = load_episodes(resolve_path(p.goal_dataset), [p.goal_episode])[0:1]
        source = make_source(
            p.source, 1, self.task or p.task, resolve_path(p.checkpoint) if p.checkpoint else None,
            device=p.device, **options,
        )  # fmt: skip
        shaping = ShapingConfig(
            kind=p.shaping, gamma=p.gamma, success_delta=p.success_delta,
            success_source="env" if self.truth else "progress",
        )  # fmt: skip
        self.core = RewardCore(source, shaping, requires=("progress",) if self.truth else ())
        out = p.output_prefix
        self.progress_pub = self.create_publisher(Float32, f"{out}/progress", RELIABLE_QOS)
        self.reward_pub = self.create_publisher(Float32, f"{out}/reward", RELIABLE_QOS)
        self.success_pub = self.create_publisher(Bool, f"{out}/success", RELIABLE_QOS)
        self.synced = SyncedSubscriber(self, rig.views, self.on_observation, guard, p.input_prefix)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.last = None
        StatusTimer(self, self.status)
        self.get_logger().info(f"reward from {p.source} ({p.shaping}, γ={p.gamma}) for {self.task!r}")

    def on_observation(self, obs) -> None:
        truth = self.truth
        info, env_success = ({}, None) if truth is None else (truth.info, truth.success)
        step = self.core.update(obs.contract(self.task), info, env_success)
        if step is None:
            return
        self.last = step
        self.progress_pub.publish(Float32(data=step.progress))
        self.reward_pub.publish(Float32(data=step.reward))
        self.success_pub.publish(Bool(data=step.success))

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.core.reset()
        response.success, response.message = True, "progress fusion restarts at the next observation"
        return response

    def status(self) -> dict:
        last = self.last
        return {
            "steps": self.core.steps,
            "return": self.core.episode_return,
            "progress": None if last is None else last.progress,
            "success": None if last is None else last.success,
            "incomplete_bundles": self.synced.assembler.incomplete,
            "rejected": self.guard.as_dict(),
            "unexpected_errors": self.guard.unexpected,
        }


def main(args: list[str] | None = None) -> None:
    raise SystemExit(run_node(RewardNode, args))


if __name__ == "__main__":
    main()
