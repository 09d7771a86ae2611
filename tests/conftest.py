"""Shared test settings (headless rendering, one torch thread, quiet progress bars) and fixtures."""

import os

import robo_reward  # noqa: F401  (sets headless rendering defaults before any test imports mujoco)

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

from robo_reward.data.episode import Episode


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield


@pytest.fixture(scope="session")
def pretrained_weights(tmp_path_factory):
    """Every registered pretrained image backbone, converted (and checked) into a fresh folder that
    `ROBO_REWARD_PRETRAINED` points at for the rest of the session; yields {name: manifest}."""
    from robo_reward.models.pretrained.configuration_pretrained import BACKBONES
    from robo_reward.models.pretrained.convert_efficientnet_lite import convert

    os.environ["ROBO_REWARD_PRETRAINED"] = str(tmp_path_factory.mktemp("pretrained"))
    return {name: convert(spec) for name, spec in BACKBONES.items()}


# ---- synthetic multi-step, multi-view episodes whose steps are known exactly -----------------------
COLORS = [(230, 40, 40), (40, 200, 40), (40, 80, 230), (230, 200, 40), (200, 40, 200)]


def stepped_episode(
    seed: int, num_steps: int = 3, size: int = 32, stall_after: int | None = None, outcome: str = "success"
) -> Episode:
    """Each step k shows a square of colour k sliding left to right; views differ in background and
    offset. Step lengths vary with the seed. `stall_after=j` stops the episode's progress inside step j
    (a failure that gets part of the way and then stays)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(12, 20, size=num_steps)
    stage = np.repeat(np.arange(num_steps), lengths)
    within = np.concatenate([np.linspace(0, 1, n, endpoint=False) for n in lengths])
    if stall_after is not None:
        cut = int(np.searchsorted(stage, stall_after)) + lengths[stall_after] // 2
        stage[cut:], within[cut:] = stage[cut], within[cut]
    T = len(stage)
    views = {}
    for v, (bg, dy) in enumerate([(70, 4), (110, 14)]):
        frames = np.full((T, size, size, 3), bg, np.uint8)
        frames += rng.integers(0, 6, size=frames.shape, dtype=np.uint8)  # sensor noise
        for t in range(T):
            x = int(6 + within[t] * (size - 20))  # slides a little within a step
            frames[t, dy : dy + 10, x : x + 10] = COLORS[stage[t]]
        views[["front", "side"][v]] = frames
    progress = ((stage + within) / num_steps).astype(np.float32)
    return Episode(
        views=views,
        state=np.zeros((T, 2), np.float32),
        action=np.zeros((T, 2), np.float32),
        task="slide the squares",
        task_name="synthetic",
        progress=progress,
        stage=stage.astype(np.int64),
        success=np.arange(T) == T - 1 if outcome == "success" else np.zeros(T, bool),
        outcome=outcome,
    )


@pytest.fixture(scope="session")
def stepped():
    """The `stepped_episode` factory (a fixture, so test modules need not import this conftest)."""
    return stepped_episode


@pytest.fixture
def steered_policy_folder(tmp_path):
    """(policy, folder): a tiny SteeredPolicy (an RL fine-tune's format) saved to `folder`, its actor
    moved off its seeded init so that only loading its weights reproduces its chunks."""
    import torch

    from robo_reward.models.flow_policy import FlowPolicy, make_config
    from robo_reward.models.flow_policy.steering import SteeredPolicy, SteeringConfig
    from robo_reward.sim import STATE_NAMES

    torch.manual_seed(0)
    policy = SteeredPolicy(FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))), SteeringConfig())
    with torch.no_grad():
        for p in policy.actor.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return policy.eval(), policy.save_pretrained(tmp_path / "steered")


@pytest.fixture(scope="session")
def tiny_instructed_policy(tmp_path_factory):
    """A saved tiny policy that reads its instruction through frozen MiniLM sentence embeddings (the
    multi-task policy's text encoder), its text projection moved off the seeded init."""
    import torch

    from robo_reward.models.flow_policy import FlowPolicy, make_config
    from robo_reward.sim import STATE_NAMES

    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES), text_encoder="minilm"))
    with torch.no_grad():
        policy.text.proj.weight.mul_(
            10.0
        )  # a trained projection tells instructions apart; an init barely does
    return policy.save_pretrained(tmp_path_factory.mktemp("instructed") / "policy")


def _tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} as TensorBoard itself reads an event folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture
def tensorboard_scalars():
    return _tensorboard_scalars


@pytest.fixture
def check_curves():
    """A check of a trainer's run folder: `metrics.png` drawn, and TensorBoard events holding every
    scalar of `metrics.jsonl` at the same steps with the same values (float32)."""
    import numpy as np

    from robo_reward.utils.logging import read_metrics

    def check(run) -> None:
        expected: dict[str, list[tuple[int, float]]] = {}
        for record in read_metrics(run / "metrics.jsonl"):
            for k, v in record.items():
                if k not in ("step", "time"):
                    expected.setdefault(k, []).append((record["step"], v))
        got = _tensorboard_scalars(run / "tensorboard")
        assert expected and set(got) == set(expected)
        for tag, pairs in expected.items():
            assert [s for s, _ in got[tag]] == [s for s, _ in pairs], tag
            np.testing.assert_allclose(
                [v for _, v in got[tag]], [v for _, v in pairs], rtol=1e-6, err_msg=tag
            )
        assert (run / "metrics.png").stat().st_size > 1000

    return check
