"""robo_reward: reward learning and VLA post-training for robot manipulation."""

import os as _os

__version__ = "0.1.0"


def _rendering_defaults() -> None:
    """Headless MuJoCo rendering defaults, set before any module imports mujoco.

    EGL needs a GPU device (NVIDIA or a DRI render node); on a CPU-only box OSMesa renders.
    Mesa's llvmpipe threads do not survive fork(): a process that rendered and then forks
    (gymnasium AsyncVectorEnv's default) deadlocks its children, so llvmpipe runs single-threaded
    (as fast at 96² images).
    """
    if "MUJOCO_GL" not in _os.environ:
        gpu = _os.path.exists("/dev/nvidia0") or _os.path.exists("/dev/dri/renderD128")
        _os.environ["MUJOCO_GL"] = "egl" if gpu else "osmesa"
    _os.environ.setdefault("LP_NUM_THREADS", "0")
    if _os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
        _os.environ.setdefault("PYOPENGL_PLATFORM", _os.environ["MUJOCO_GL"])


_rendering_defaults()
# Nothing is downloaded at run time: the Hugging Face libraries (lerobot's datasets) stay on disk.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
