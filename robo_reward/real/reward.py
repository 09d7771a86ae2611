"""reward node: synced observations → progress, shaped reward, success.

Subscribes to camera_sync's `/robo_reward/synced/*` and (source `privileged`) the sim's debug topics.
Publishes per synced observation `/robo_reward/progress` (Float32, Φ in [0, 1]),
`/robo_reward/reward` (Float32, r = r_success + γ·Φ' − Φ; 0 for an episode's first observation)
and `/robo_reward/success` (Bool). `~/reset` (Trigger) restarts the GRM's online fusion at episode
start: the next observation becomes s_init. A message that cannot be used (a bad synced part, a
NaN progress) is dropped, counted in `~/status` `rejected` and logged (throttled per topic).
"""

from __future__ import annotations

from rclpy.node import Node
from std_msgs.msg import Bool, Float32
from std_srvs.srv import Trigger

from robo_reward.real.inputs import InputGuard
from robo_reward.real.params import Param, declare
from robo_reward.real.reward_core import GRMProgress, PrivilegedProgress, RewardCore
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

PARAMS = (
    Param("rig", "sim", "rig folder under real/ (or a path): the views to expect"),
    Param("progress_source", "grm", "grm (the reward model) | privileged (the sim's debug progress)"),
    Param("checkpoint", "", "GRM checkpoint folder (source grm)"),
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
    Param("device", "cpu", "torch device of the GRM"),
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
        self.privileged = None
        if p.progress_source == "privileged":
            self.privileged = source = PrivilegedProgress()
            subscribe(
                self,
                guard,
                Float32,
                f"{p.debug_prefix}/progress",
                lambda m: source.feed(progress=m.data),
                RELIABLE_QOS,
            )
            subscribe(self, guard, Bool, f"{p.debug_prefix}/success",
                      lambda m: source.feed(success=m.data), RELIABLE_QOS)  # fmt: skip
        elif p.progress_source == "grm":
            if not p.checkpoint:
                raise ValueError(
                    "progress_source grm needs a `checkpoint` (or use progress_source privileged in sim)"
                )
            goal = None
            if p.goal_dataset:
                from robo_reward.data.lerobot_io import load_episodes

                goal = load_episodes(resolve_path(p.goal_dataset), [p.goal_episode])[0]
            source = GRMProgress(resolve_path(p.checkpoint), self.task or p.task, goal=goal, device=p.device)
        else:
            raise ValueError(f"progress_source must be grm or privileged, got {p.progress_source!r}")
        shaping = ShapingConfig(
            kind=p.shaping, gamma=p.gamma, success_delta=p.success_delta,
            success_source="env" if self.privileged else "progress",
        )  # fmt: skip
        self.core = RewardCore(source, shaping)
        out = p.output_prefix
        self.progress_pub = self.create_publisher(Float32, f"{out}/progress", RELIABLE_QOS)
        self.reward_pub = self.create_publisher(Float32, f"{out}/reward", RELIABLE_QOS)
        self.success_pub = self.create_publisher(Bool, f"{out}/success", RELIABLE_QOS)
        self.synced = SyncedSubscriber(self, rig.views, self.on_observation, guard, p.input_prefix)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.last = None
        StatusTimer(self, self.status)
        self.get_logger().info(
            f"reward from {p.progress_source} ({p.shaping}, γ={p.gamma}) for {self.task!r}"
        )

    def on_observation(self, obs) -> None:
        env_success = self.privileged.success if self.privileged is not None else None
        step = self.core.update(obs.contract(self.task), env_success)
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
