"""robosuite Lift / Stack / Door behind the TabletopEnv interface (keys, spaces, info, sim state).

robosuite is imported only when one of these envs is built. Views are rendered with a plain
`mujoco.Renderer` on robosuite's own MjModel/MjData (its offscreen pipeline is ~30x slower here):
front ← `agentview`, side ← `sideview`, wrist ← `robot0_eye_in_hand`. Actions are robosuite's BASIC
Panda controller (OSC pose, deltas in [-1, 1], gripper +1 closes) — the same 7-D layout as ours.
Progress: Stack from `staged_rewards()`; Lift and Door (which have none) from the same shaped-reward
terms robosuite's `reward()` adds up; success from `_check_success()`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import gymnasium as gym
import mujoco
import numpy as np

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY
from robo_reward.sim.scene import STATE_NAMES, VIEWS

CAMERAS = {"front": "agentview", "side": "sideview", "wrist": "robot0_eye_in_hand"}


def _reach(distance: float) -> float:
    return float(1.0 - np.tanh(10.0 * distance))


def _progress_lift(env) -> tuple[int, float]:
    dist = env._gripper_to_target(
        gripper=env.robots[0].gripper, target=env.cube.root_body, target_type="body", return_distance=True
    )
    if env._check_grasp(gripper=env.robots[0].gripper, object_geoms=env.cube):
        height = env.sim.data.body_xpos[env.cube_body_id][2] - env.model.mujoco_arena.table_offset[2]
        return 1, float(np.clip((height - 0.02) / 0.02, 0.0, 1.0))  # success at table + 0.04
    return 0, _reach(dist)


def _progress_stack(env) -> tuple[int, float]:
    r_reach, r_lift, r_stack = env.staged_rewards()  # [0, 0.5], {0} ∪ [1, 1.5], {0, 2}
    if r_stack > 0:
        return 2, 1.0
    if r_lift > 0:
        return 1, float(np.clip((r_lift - 1.0) / 0.5, 0.0, 1.0))
    return 0, float(r_reach / 0.5)


def _progress_door(env) -> tuple[int, float]:
    hinge = float(env.sim.data.qpos[env.hinge_qpos_addr])
    handle = float(env.sim.data.qpos[env.handle_qpos_addr]) if env.use_latch else 0.0
    if hinge > 0.01 or abs(handle) > 0.1:
        turned = np.clip(abs(handle) / (0.5 * np.pi), 0.0, 1.0) if env.use_latch else 1.0
        return 1, float(0.3 * turned + 0.7 * np.clip(hinge / 0.3, 0.0, 1.0))
    return 0, _reach(float(np.linalg.norm(env._gripper_to_handle)))


PROGRESS = {"Lift": (_progress_lift, 2), "Stack": (_progress_stack, 3), "Door": (_progress_door, 2)}


class RobosuiteEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        name: str,
        spec,
        image_size: int = 96,
        views: Sequence[str] = VIEWS,
        control: str = "ee_delta",
        render: bool = True,
        max_steps: int | None = None,
    ):
        if name not in PROGRESS:
            raise KeyError(f"no robosuite adapter for {name!r}; known: {sorted(PROGRESS)}")
        if control != "ee_delta":
            raise ValueError("robosuite envs support control='ee_delta' only")
        import robosuite
        from robosuite.controllers import load_composite_controller_config
        from robosuite.utils.log_utils import ROBOSUITE_DEFAULT_LOGGER

        ROBOSUITE_DEFAULT_LOGGER.setLevel(logging.ERROR)
        self.spec_ = spec
        self.task_name, self.max_steps = spec.name, int(max_steps or spec.max_steps)
        self._progress_fn, self.num_stages = PROGRESS[name]
        self.image_size, self.views, self.render_images = int(image_size), tuple(views), render
        self.rs = robosuite.make(
            name,
            robots="Panda",
            controller_configs=load_composite_controller_config(controller="BASIC", robot="Panda"),
            has_renderer=False,
            has_offscreen_renderer=False,
            use_camera_obs=False,
            control_freq=10,
            horizon=self.max_steps,
            reward_shaping=True,
            ignore_done=True,
            hard_reset=False,
        )
        self._renderer: mujoco.Renderer | None = None
        self._steps = 0
        S = self.image_size
        obs = {STATE_KEY: gym.spaces.Box(-np.inf, np.inf, (len(STATE_NAMES),), np.float32)}
        if render:
            obs.update({f"{IMAGE_KEY}{v}": gym.spaces.Box(0, 255, (S, S, 3), np.uint8) for v in self.views})
        self.observation_space = gym.spaces.Dict(obs)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:  # robosuite samples placements from numpy's global generator
            np.random.seed(seed)
        raw = self.rs.reset()
        self._steps = 0
        return self._observation(raw), self._info()

    def step(self, action):
        raw, _, _, _ = self.rs.step(np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0))
        self._steps += 1
        info = self._info()
        terminated = info["success"]
        truncated = not terminated and self._steps >= self.max_steps
        return self._observation(raw), float(terminated), terminated, truncated, info

    def hold_action(self) -> np.ndarray:
        a = np.zeros(7, np.float32)
        a[-1] = 1.0 if self._gripper_opening() < 0.07 else -1.0
        return a

    def _gripper_opening(self) -> float:
        q = self.rs.sim.data.qpos[self.rs.robots[0]._ref_gripper_joint_pos_indexes["right"]]
        return float(np.abs(q).sum())

    def _observation(self, raw: dict) -> dict:
        state = np.concatenate([raw["robot0_joint_pos"], [self._gripper_opening()], raw["robot0_eef_pos"]])
        obs = {STATE_KEY: state.astype(np.float32)}
        if self.render_images:
            for v in self.views:
                obs[f"{IMAGE_KEY}{v}"] = self._render_view(v)
        return obs

    def _render_view(self, view: str) -> np.ndarray:
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.rs.sim.model._model, self.image_size, self.image_size)
            self._vopt = mujoco.MjvOption()
            self._vopt.geomgroup[0] = 0  # robosuite's collision geoms; visual meshes are group 1
        self._renderer.update_scene(self.rs.sim.data._data, camera=CAMERAS[view], scene_option=self._vopt)
        return self._renderer.render()

    def render(self) -> np.ndarray:
        return self._render_view("front")

    def _info(self) -> dict:
        success = bool(self.rs._check_success())
        stage, frac = self._progress_fn(self.rs)
        progress = 1.0 if success else float(np.clip((stage + frac) / self.num_stages, 0.0, 1.0))
        return {
            "progress": progress,
            "stage": self.num_stages - 1 if success else stage,
            "success": success,
            "task": self.spec_.instruction,
            "task_name": self.task_name,
        }

    def get_sim_state(self) -> np.ndarray:
        """MuJoCo state (robosuite's flattened MjSim state), the gripper controller's command memory
        (robosuite grippers integrate their command), then the step count."""
        # the Panda gripper's memory starts as zeros(1) and becomes (2,) after its first command
        grip = np.broadcast_to(self.rs.robots[0].gripper["right"].current_action, (2,))
        return np.concatenate([self.rs.sim.get_state().flatten(), grip, [self._steps]])

    def set_sim_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64)
        gripper = self.rs.robots[0].gripper["right"]
        n = 2
        self.rs.sim.set_state_from_flattened(state[: -1 - n])
        self.rs.sim.forward()
        gripper.current_action = state[-1 - n : -1].copy()
        self._steps = int(state[-1])

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.rs.close()
