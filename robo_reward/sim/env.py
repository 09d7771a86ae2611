"""TabletopEnv: a gymnasium env over one registered task, 10 Hz control, three rendered views."""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Sequence

import gymnasium as gym
import mujoco
import numpy as np

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY
from robo_reward.sim.controller import (
    POS_SCALE,
    ROT_SCALE,
    WORKSPACE_HI,
    WORKSPACE_LO,
    DLSController,
    axis_angle_matrix,
)
from robo_reward.sim.scene import GRIPPER_MAX, STATE_NAMES, VIEWS, Scene, build_model
from robo_reward.sim.tasks import TASKS, Evaluation

CONTROL_DT = 0.1  # seconds per env step (10 Hz)
CONTROLS = ("ee_delta", "joint")
_STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION | mujoco.mjtState.mjSTATE_WARMSTART
_LIVE_ENVS: weakref.WeakSet = weakref.WeakSet()
_atexit_registered = False


def _close_renderers() -> None:
    # Free GL contexts before the GL display goes away. Registered after the first context exists, so
    # that it runs before mujoco.egl's own atexit eglTerminate (atexit is last-in, first-out).
    for env in list(_LIVE_ENVS):
        env.close()


def gripper_target(command: float) -> float:
    """Per-finger opening target (m) for a gripper command in [-1, 1], +1 closes."""
    return GRIPPER_MAX * (1.0 - float(np.clip(command, -1.0, 1.0))) / 2.0


class TabletopEnv(gym.Env):
    """Observations: `observation.images.<view>` (S, S, 3) uint8 per view, `observation.state` float32
    laid out as `STATE_NAMES`. Actions: `ee_delta` (7,) in [-1, 1] = (dx, dy, dz, drx, dry, drz,
    gripper), scaled by POS_SCALE / ROT_SCALE and solved with damped-least-squares IK; or `joint`
    (8,) = 7 absolute joint targets (rad) + gripper in [-1, 1]. Reward 1 on success (terminates)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        task: str,
        image_size: int = 96,
        views: Sequence[str] = VIEWS,
        control: str = "ee_delta",
        render: bool = True,
        shadows: bool = False,
        reflections: bool = False,
        max_steps: int | None = None,
    ):
        scene_name = task.partition(":")[0]
        if scene_name not in TASKS or task not in (scene_name, *TASKS[scene_name].task_names()):
            known = [n for cls in TASKS.values() for n in dict.fromkeys((cls.name, *cls.task_names()))]
            raise KeyError(f"unknown task {task!r}; known: {known}")
        if control not in CONTROLS:
            raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
        unknown = set(views) - set(VIEWS)
        if unknown:
            raise ValueError(f"unknown views {sorted(unknown)}; known: {VIEWS}")
        self.task_name, self.task = task, TASKS[scene_name]()
        # the task a reset instructs unless its options say otherwise: a scene's first, or the one named
        self.default_task = task if task != scene_name else self.task.task_names()[0]
        self.instruction = self.task.wordings_of(self.default_task).canonical
        self.image_size, self.views, self.control = int(image_size), tuple(views), control
        self.render_images, self.shadows, self.reflections = render, shadows, reflections
        self.max_steps = int(max_steps or self.task.max_steps)
        self.render_mode = "rgb_array"

        self.model = build_model(self.task.objects, shadows, reflections)
        self.data = mujoco.MjData(self.model)
        self.scene = Scene(self.model, self.data)
        self.controller = DLSController(self.scene)
        self.n_substeps = max(1, round(CONTROL_DT / self.model.opt.timestep))
        self._home = self.model.key("home").id
        self._renderer: mujoco.Renderer | None = None
        _LIVE_ENVS.add(self)
        self._steps = 0
        self._last_eval = Evaluation(0, 0.0, False)

        S = self.image_size
        obs = {STATE_KEY: gym.spaces.Box(-np.inf, np.inf, (len(STATE_NAMES),), np.float32)}
        if render:
            obs.update({f"{IMAGE_KEY}{v}": gym.spaces.Box(0, 255, (S, S, 3), np.uint8) for v in self.views})
        self.observation_space = gym.spaces.Dict(obs)
        if control == "ee_delta":
            self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)
        else:
            lo = np.append(self.scene.arm_lo, -1.0).astype(np.float32)
            hi = np.append(self.scene.arm_hi, 1.0).astype(np.float32)
            self.action_space = gym.spaces.Box(lo, hi, (8,), np.float32)

    # --- gym API -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """`options`: `task` (one of the scene's task names) and/or `instruction` (the wording the episode
        reports in `info["task"]`; a registered wording alone also names its task). The initial state
        depends on the seed only, so one seed can be run under each instruction."""
        super().reset(seed=seed)
        task, instruction = self._instructed(options or {})
        m, d = self.model, self.data
        mujoco.mj_resetDataKeyframe(m, d, self._home)
        rng = self.np_random
        d.qpos[self.scene.arm_qadr] += rng.uniform(-0.03, 0.03, 7)
        d.ctrl[self.scene.arm_act] = d.qpos[self.scene.arm_qadr]
        mujoco.mj_forward(m, d)  # tasks may place objects relative to the gripper
        self.task.initialize(self.scene, rng)
        mujoco.mj_forward(m, d)
        self.task.select(task)
        self.instruction = instruction
        self.task.after_reset(self.scene)
        self._steps = 0
        self._last_eval = self.task.evaluate(self.scene)
        return self._observation(), self._info(self._last_eval)

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError("action has non-finite values")
        self._apply_action(action)
        for _ in range(self.n_substeps):
            mujoco.mj_step(self.model, self.data)
        # mj_step leaves positions, contacts and sensors one integration behind qpos; refresh them so
        # observations, progress and the next IK solve see the current state (as after set_sim_state).
        mujoco.mj_forward(self.model, self.data)
        self._steps += 1
        ev = self.task.evaluate(self.scene)
        self._last_eval = ev
        terminated = bool(ev.success)
        truncated = (not terminated) and self._steps >= self.max_steps
        return self._observation(), float(ev.success), terminated, truncated, self._info(ev)

    def _instructed(self, options: dict) -> tuple[str, str]:
        """(task name, wording) for a reset's options; other keys (e.g. a vector env's) are ignored."""
        names = self.task.task_names()
        task, text = options.get("task"), options.get("instruction")
        if task is not None and task not in names:
            raise ValueError(
                f"reset option task={task!r} is not one of {self.task_name!r}'s tasks {list(names)}"
            )
        owners = [n for n in names if text in self.task.wordings_of(n).all]
        if text is not None and task is None:
            if not owners:
                raise ValueError(
                    f"instruction {text!r} is not a registered wording of {list(names)}: "
                    "name its task too (reset options task=...)"
                )
            task = owners[0]
        task = task or self.default_task
        if text is not None and owners and task not in owners:
            raise ValueError(f"instruction {text!r} is a wording of {owners[0]!r}, not of {task!r}")
        return task, text if text is not None else self.task.wordings_of(task).canonical

    def render(self) -> np.ndarray:
        return self._render_view("front")

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # --- control -------------------------------------------------------------------------------
    def _apply_action(self, action: np.ndarray) -> None:
        sc, d = self.scene, self.data
        if self.control == "ee_delta":
            a = np.clip(action, -1.0, 1.0)
            target_pos = np.clip(sc.ee_pos + a[:3] * POS_SCALE, WORKSPACE_LO, WORKSPACE_HI)
            target_mat = axis_angle_matrix(a[3:6] * ROT_SCALE) @ sc.ee_mat
            d.ctrl[sc.arm_act] = self.controller.solve(target_pos, target_mat)
        else:
            d.ctrl[sc.arm_act] = np.clip(action[:7], sc.arm_lo, sc.arm_hi)
        d.ctrl[sc.gripper_act] = gripper_target(action[-1])

    def gripper_command(self) -> float:
        """The gripper command (in [-1, 1]) that is currently applied."""
        return float(1.0 - 2.0 * self.data.ctrl[self.scene.gripper_act] / GRIPPER_MAX)

    def hold_action(self) -> np.ndarray:
        """An action that keeps the robot where it is (for the terminal frame of an episode)."""
        if self.control == "ee_delta":
            a = np.zeros(7, np.float32)
        else:
            a = np.append(self.scene.arm_qpos, 0.0).astype(np.float32)
        a[-1] = self.gripper_command()
        return a

    # --- observation ---------------------------------------------------------------------------
    def _observation(self) -> dict:
        obs = {STATE_KEY: self.scene.state()}
        if self.render_images:
            for v in self.views:
                obs[f"{IMAGE_KEY}{v}"] = self._render_view(v)
        return obs

    def _render_view(self, view: str) -> np.ndarray:
        if self._renderer is None:  # created lazily so the env pickles / forks before any GL context
            global _atexit_registered
            self._renderer = mujoco.Renderer(self.model, self.image_size, self.image_size)
            if not _atexit_registered:
                atexit.register(_close_renderers)
                _atexit_registered = True
            flags = self._renderer.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.shadows
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = self.reflections
        self._renderer.update_scene(self.data, camera=view)
        return self._renderer.render()

    def _info(self, ev: Evaluation) -> dict:
        """Privileged truth of the instructed task, and `achieved`: every task of the scene whose
        success condition holds (instructed or not), for the grounding confusion table."""
        return {
            "progress": self.task.progress(ev),
            "stage": int(ev.stage if not ev.success else self.task.num_stages - 1),
            "success": bool(ev.success),
            "task": self.instruction,
            "task_name": self.task.current,
            "achieved": self.task.achieved(self.scene, ev),
        }

    def environment_state(self) -> np.ndarray:
        """`Scene.environment_state`: object poses, privileged (recorded by `rollout`, never observed)."""
        return self.scene.environment_state()

    def evaluation(self) -> Evaluation:
        return self._last_eval

    # --- state cloning -------------------------------------------------------------------------
    def get_sim_state(self) -> np.ndarray:
        """Flat float64: MuJoCo integration state (time, qpos, qvel, act, warmstart, ctrl, mocap, ...),
        then the task's randomisation parameters, then the step count."""
        phys = np.empty(mujoco.mj_stateSize(self.model, _STATE_SPEC))
        mujoco.mj_getState(self.model, self.data, phys, _STATE_SPEC)
        return np.concatenate([phys, self.task.params, [self._steps]])

    def set_sim_state(self, state: np.ndarray) -> None:
        n = mujoco.mj_stateSize(self.model, _STATE_SPEC)
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (n + self.task.num_params + 1,):
            raise ValueError(f"sim state must have {n + self.task.num_params + 1} values, got {state.shape}")
        mujoco.mj_setState(self.model, self.data, state[:n], _STATE_SPEC)
        instructed = self.task.current
        self.task.params[:] = state[n : n + self.task.num_params]
        if self.task.current != instructed:  # the state instructs another task of the scene
            self.instruction = self.task.wordings_of(self.task.current).canonical
        self._steps = int(state[-1])
        mujoco.mj_forward(self.model, self.data)
        self._last_eval = self.task.evaluate(self.scene)

    def observe(self) -> tuple[dict, dict]:
        """The current observation and info (e.g. after set_sim_state)."""
        return self._observation(), self._info(self._last_eval)
