"""Shared test settings: headless rendering, one torch thread, quiet progress bars."""

import os

import robo_reward  # noqa: F401  (sets headless rendering defaults before any test imports mujoco)

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest


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
