"""Training curves: MetricsLogger's TensorBoard events and PNG, read back independently."""

import math

import matplotlib.image
import numpy as np
import pytest

from robo_reward.utils.logging import MetricsLogger, read_metrics
from robo_reward.utils.plots import _moving_average, metrics_plot


def test_every_logged_scalar_reaches_tensorboard_and_a_png(tmp_path, tensorboard_scalars):
    losses = [1.0 / s for s in range(1, 31)]
    with MetricsLogger(tmp_path) as log:
        for step, loss in enumerate(losses, start=1):
            log.log(step, **{"losses/flow": loss, "charts/lr": 0.5, "time/update": 0.25})
    tb = tensorboard_scalars(tmp_path / "tensorboard")
    assert set(tb) == {"losses/flow", "charts/lr", "time/update"}
    assert [s for s, _ in tb["losses/flow"]] == list(range(1, 31))
    np.testing.assert_allclose([v for _, v in tb["losses/flow"]], losses, rtol=1e-6)  # float32 events
    # two panels (time/* is left out) at 3.2 × 2.8 inches, 90 dpi
    image = matplotlib.image.imread(tmp_path / "metrics.png")
    assert image.shape[:2] == (round(2.8 * 90), round(2 * 3.2 * 90))
    assert image[..., :3].std() > 0.05  # something is drawn


def _log_then_resume_from_step_3(run, tensorboard_scalars) -> list[tuple[int, float]]:
    """Steps 1-5 logged, metrics.jsonl cut back to step 3 (a resume's checkpoint), then steps 4-6 logged
    again with new values; what TensorBoard reads back. Right: 1, 2, 3, then 40, 50, 60."""
    with MetricsLogger(run) as log:
        for step in range(1, 6):
            log.log(step, loss=float(step))
    rows = read_metrics(run / "metrics.jsonl")[:3]
    (run / "metrics.jsonl").write_text(
        "".join(f'{{"step": {r["step"]}, "loss": {r["loss"]}}}\n' for r in rows)
    )
    with MetricsLogger(run) as log:
        for step in range(4, 7):
            log.log(step, loss=10.0 * step)
    return tensorboard_scalars(run / "tensorboard")["loss"]


RESUMED = [(1, 1), (2, 2), (3, 3), (4, 40), (5, 50), (6, 60)]


def test_a_resumed_run_replaces_the_events_after_its_checkpoint(tmp_path, tensorboard_scalars):
    assert _log_then_resume_from_step_3(tmp_path, tensorboard_scalars) == RESUMED


def test_a_resume_within_the_same_second_still_reads_after_the_earlier_session(
    tmp_path, tensorboard_scalars, monkeypatch
):
    """TensorBoard reads a folder's event files in name order: `...tfevents.<second>.<host>.<pid>.<n>`,
    n a per-process writer count. A resume in the same second whose count gained a digit (9 → 10) or
    whose pid did would sort *before* the earlier session, and its purge could not drop that session's
    later steps. Both sessions here share one second and write with counts 9 and 10."""
    from tensorboard.summary.writer import event_file_writer

    monkeypatch.setattr(event_file_writer.time, "time", lambda: 1_700_000_000.25)
    monkeypatch.setattr(event_file_writer, "_global_uid", event_file_writer.AtomicCounter(9))
    assert _log_then_resume_from_step_3(tmp_path, tensorboard_scalars) == RESUMED
    files = sorted(p.name for p in (tmp_path / "tensorboard").iterdir())
    assert len(files) == 2 and files[-1].endswith(".10")  # the resume's file is read last


def test_nan_still_raises_and_reaches_neither_file(tmp_path, tensorboard_scalars):
    with pytest.raises(FloatingPointError, match="'loss' is nan at step 2"), MetricsLogger(tmp_path) as log:
        log.log(1, loss=0.5, acc=0.25)
        log.log(2, acc=0.75, loss=math.nan)
    assert [(r["step"], r["loss"]) for r in read_metrics(tmp_path / "metrics.jsonl")] == [(1, 0.5)]
    assert tensorboard_scalars(tmp_path / "tensorboard") == {"loss": [(1, 0.5)], "acc": [(1, 0.25)]}
    assert (tmp_path / "metrics.png").exists()  # the curves up to the failure


def test_nothing_logged_draws_nothing(tmp_path):
    MetricsLogger(tmp_path).close()
    assert not (tmp_path / "metrics.png").exists() and not (tmp_path / "tensorboard").exists()
    assert metrics_plot([{"step": 1, "time": 0.1}], tmp_path / "m.png") is None


def test_moving_average_by_hand():
    # centred: the mean of each point and its neighbours, fewer of them at the ends
    np.testing.assert_allclose(_moving_average(np.array([1.0, 2.0, 3.0, 4.0]), 3), [1.5, 2.0, 3.0, 3.5])
    np.testing.assert_allclose(_moving_average(np.array([3.0, 0.0, 6.0]), 5), [3.0, 3.0, 3.0])
    np.testing.assert_allclose(_moving_average(np.array([3.0, 0.0, 6.0]), 1), [3.0, 0.0, 6.0])
