"""Behaviour cloning: chunk construction, a short training run, resume, and 2-process DDP."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robo_reward.data.episode import ENV_STATE_KEY, Episode
from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.train.bc import BCConfig, train_bc
from robo_reward.train.bc.data import ChunkDataset, chunk_indices, random_shift
from robo_reward.utils.logging import read_metrics
from robo_reward.utils.training_state import load_optimizer, save_optimizer


def toy_episodes(n: int = 4, T: int = 12, size: int = 40, seed: int = 0, outcome="success") -> list[Episode]:
    """Episodes whose action is a fixed function of the state (learnable), with random images."""
    rng = np.random.default_rng(seed)
    eps = []
    for i in range(n):
        state = rng.standard_normal((T, 10)).astype(np.float32)
        action = np.tanh(state[:, :7] * 0.5).astype(np.float32)
        views = {
            v: rng.integers(0, 256, (T, size, size, 3), dtype=np.uint8) for v in ("front", "side", "wrist")
        }
        task = "pick_place" if i % 2 == 0 else "push"
        eps.append(
            Episode(
                views=views, state=state, action=action, task=f"do {task}", task_name=task, outcome=outcome
            )
        )
    return eps


def test_chunk_indices_pad_by_repeating_the_last_action():
    idx = chunk_indices([3, 2], horizon=4)
    assert idx.tolist() == [[0, 1, 2, 2], [1, 2, 2, 2], [2, 2, 2, 2], [3, 4, 4, 4], [4, 4, 4, 4]]


def test_dataset_keeps_successes_resizes_and_balances_tasks():
    eps = toy_episodes(4, T=6) + toy_episodes(1, T=6, seed=1, outcome="failure")
    eps.append(toy_episodes(1, T=30, seed=2)[0])  # a long pick_place episode
    data = ChunkDataset.from_episodes(eps, ("front", "wrist"), image_size=16, horizon=3)
    assert data.num_episodes == 5 and len(data) == 4 * 6 + 30
    assert data.views["front"].shape == (len(data), 16, 16, 3) and data.views["front"].dtype == torch.uint8
    w = data.sampling_weights()
    share = {n: w[[i for i, t in enumerate(data.task_names) if t == n]].sum() for n in set(data.task_names)}
    assert share["push"] == pytest.approx(0.5) and share["pick_place"] == pytest.approx(0.5)
    obs, chunk = data.batch(np.array([5, 6]))
    assert chunk.shape == (2, 3, 7)
    assert torch.equal(chunk[0, 0], data.action[5]) and torch.equal(chunk[0, 1], data.action[5])  # ep end
    with pytest.raises(ValueError, match="no episodes"):
        ChunkDataset.from_episodes(eps[4:5], ("front",), 16, 3)


def test_task_shares_by_square_root_of_frames_and_by_frames():
    eps = toy_episodes(2, T=4) + [toy_episodes(1, T=36, seed=2)[0]]  # pick_place 4 + 36 frames, push 4
    data = ChunkDataset.from_episodes(eps, ("front",), image_size=16, horizon=3)
    for balance, pick_share in (
        ("task", 1 / 2),
        ("sqrt_frames", 40**0.5 / (40**0.5 + 4**0.5)),
        ("frames", 40 / 44),
    ):
        w = data.sampling_weights(balance)
        pick = [i for i, t in enumerate(data.task_names) if t == "pick_place"]
        assert w[pick].sum() == pytest.approx(pick_share), balance
        assert np.allclose(w[pick], w[pick[0]])  # one task's frames alike
    with pytest.raises(ValueError, match="balance must be one of"):
        data.sampling_weights("episodes")


def test_random_shift_keeps_shape_and_content_when_pad_is_zero():
    x = torch.randint(0, 256, (3, 8, 8, 3), dtype=torch.uint8)
    assert torch.equal(random_shift(x, 0), x)
    y = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == torch.uint8


def test_optimizer_state_round_trip(tmp_path):
    p = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.sum().backward()
    opt.step()
    save_optimizer(opt, tmp_path / "opt.safetensors")
    opt2 = torch.optim.AdamW([torch.nn.Parameter(p.detach().clone())], lr=0.5)
    load_optimizer(opt2, tmp_path / "opt.safetensors")
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 0.1
    assert torch.equal(s1["state"][0]["exp_avg"], s2["state"][0]["exp_avg"])


def test_train_resume_and_load(tmp_path, check_curves):
    eps = toy_episodes()
    cfg = BCConfig(out=tmp_path / "run", config="flow-tiny", steps=30, batch_size=16, lr=3e-3, warmup_steps=5,
                   log_every=10, ckpt_every=20, shift_pad=2)  # fmt: skip
    final = train_bc(cfg, episodes=eps)
    metrics = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [10, 20, 30]
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    check_curves(tmp_path / "run")
    policy = FlowPolicy.from_pretrained(final)
    assert policy.config.state_dim == 10 and policy.config.source_image_size == 40
    assert torch.allclose(
        policy.action_mean, torch.from_numpy(np.concatenate([e.action for e in eps]).mean(0)), atol=1e-5
    )
    # resume: continues from the last checkpoint to the new step count
    cfg.steps, cfg.resume = 40, True
    train_bc(cfg, episodes=eps)
    steps = [m["step"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert steps == [10, 20, 30, 40]
    assert (tmp_path / "run" / "checkpoints" / "step_000040" / "optimizer.safetensors").exists()


def test_frozen_backbone_trains_from_cached_features(tmp_path):
    cfg = BCConfig(out=tmp_path / "run", config="flow-tiny", overrides={"freeze_backbone": True}, steps=20,
                   batch_size=16, lr=3e-3, warmup_steps=5, log_every=10)  # fmt: skip
    final = train_bc(cfg, episodes=toy_episodes())
    metrics = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    trained = FlowPolicy.from_pretrained(final)
    torch.manual_seed(cfg.seed)  # the backbone is the seed's random init, untouched by training
    before = FlowPolicy(trained.config)
    for (name, a), b in zip(
        before.views.backbone.state_dict().items(), trained.views.backbone.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_trains_on_the_pretrained_encoders_and_resumes(tmp_path, pretrained_weights, monkeypatch):
    """Frozen EfficientNet-Lite0 cells + MiniLM instructions: features cached, the backbone stays the
    converted weights, the EMA copy shares the text encoder, and a resumed run needs no converted files."""
    from safetensors.torch import load_file

    from robo_reward.models.pretrained import LITE_MEAN, LITE_STD, converted_weights

    overrides = {
        "backbone": "tf_efficientnet_lite0",
        "backbone_weights": "efficientnet_lite0",
        "image_mean": LITE_MEAN,
        "image_std": LITE_STD,
        "freeze_backbone": True,
        "text_encoder": "minilm",
    }
    cfg = BCConfig(out=tmp_path / "run", config="flow-tiny", overrides=overrides, steps=20, batch_size=16,
                   lr=3e-3, warmup_steps=5, log_every=10, ckpt_every=10, ema_decay=0.9)  # fmt: skip
    train_bc(cfg, episodes=toy_episodes())
    metrics = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    stored = load_file(str(converted_weights("efficientnet_lite0")))
    raw = FlowPolicy.from_pretrained(tmp_path / "run" / "checkpoints" / "step_000020")
    assert all(torch.equal(v, stored[k]) for k, v in raw.views.backbone.state_dict().items())
    monkeypatch.setenv("ROBO_REWARD_PRETRAINED", str(tmp_path / "nothing-converted-here"))
    cfg.steps, cfg.resume = 30, True
    train_bc(cfg, episodes=toy_episodes())
    assert [m["step"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [10, 20, 30]


DDP_SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_policy_bc import toy_episodes
from robo_reward.train.bc import BCConfig, train_bc
torch.set_num_threads(1)
train_bc(BCConfig(out={out!r}, config="flow-tiny", steps=6, batch_size=8, log_every=3, warmup_steps=2),
         episodes=toy_episodes())
"""


def test_torchrun_ddp_two_processes(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path / "ddp")))
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert [m["step"] for m in read_metrics(tmp_path / "ddp" / "metrics.jsonl")] == [3, 6]
    assert (tmp_path / "ddp" / "model" / "model.safetensors").exists()


def test_cli_trains_from_a_lerobot_dataset(tmp_path):
    from robo_reward.cli import main
    from robo_reward.data.lerobot_io import write_dataset
    from robo_reward.utils.cli_helpers import parse_overrides as _parse_overrides

    assert _parse_overrides(["width=32", "backbone=test_resnet", "freeze_backbone=true"]) == {
        "width": 32, "backbone": "test_resnet", "freeze_backbone": True,
    }  # fmt: skip
    data = write_dataset(toy_episodes(2, T=6, size=32), tmp_path / "ds")
    out = tmp_path / "run"
    main(["policy", "train", "--data", str(data), "--out", str(out), "--config", "flow-tiny",
          "--steps", "3", "--batch-size", "4", "--log-every", "1", "--override", "chunk_size=4"])  # fmt: skip
    policy = FlowPolicy.from_pretrained(out / "model")
    assert policy.config.chunk_size == 4 and policy.config.source_image_size == 32


def test_ema_update_and_decay_ramp_match_hand_values():
    from robo_reward.train.bc.trainer import ema_decay_at, ema_update

    model, ema = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0), model.bias.fill_(-2.0), ema.weight.fill_(0.0), ema.bias.fill_(0.0)
    ema_update(ema, model, decay=0.75)
    assert torch.allclose(ema.weight, torch.full((1, 2), 0.25)) and torch.allclose(
        ema.bias, torch.tensor([-0.5])
    )
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    assert ema_decay_at(90, 0.999) == pytest.approx(91 / 100)
    assert ema_decay_at(10**6, 0.999) == 0.999


def test_ema_model_is_saved_and_resumed(tmp_path):
    eps = toy_episodes()
    cfg = BCConfig(out=tmp_path / "run", config="flow-tiny", steps=20, batch_size=8, lr=3e-3, warmup_steps=2,
                   log_every=10, ckpt_every=10, ema_decay=0.9)  # fmt: skip
    final = train_bc(cfg, episodes=eps)
    ema = FlowPolicy.from_pretrained(final)
    raw = FlowPolicy.from_pretrained(tmp_path / "run" / "checkpoints" / "step_000020")
    saved_ema = FlowPolicy.from_pretrained(tmp_path / "run" / "checkpoints" / "step_000020" / "ema")
    e, r, s = ema.state_dict(), raw.state_dict(), saved_ema.state_dict()
    assert all(torch.equal(e[k], s[k]) for k in e)
    assert any(not torch.equal(e[k], r[k]) for k in e if e[k].dtype.is_floating_point)
    # resume from step 20 to 21: the saved average is loaded, then takes one update with the ramped decay
    cfg.steps, cfg.resume = 21, True
    resumed = FlowPolicy.from_pretrained(train_bc(cfg, episodes=eps)).state_dict()
    raw21 = FlowPolicy.from_pretrained(tmp_path / "run" / "checkpoints" / "step_000021").state_dict()
    d = min(0.9, 21 / 30)
    for k in e:
        if e[k].dtype.is_floating_point:
            assert torch.allclose(resumed[k], d * e[k] + (1 - d) * raw21[k], atol=1e-6), k


def test_aux_loss_matches_hand_value():
    """The auxiliary head's per-sample MSE is taken against the normalised object state."""
    policy = FlowPolicy(make_config("flow-tiny", aux_dim=3))
    policy.set_normalization(
        {"environment_state_mean": [1.0, 0.0, -2.0], "environment_state_std": [2.0, 0.5, 1.0]}
    )
    last = policy.aux_head[-1]
    torch.nn.init.zeros_(last.weight)
    with torch.no_grad():
        last.bias.copy_(torch.tensor([0.5, -1.0, 0.0]))  # the head's output, whatever the tokens
    state = torch.tensor([[2.0, 0.5, -2.0], [1.0, 0.0, 0.0]])  # normalised: [0.5, 1, 0], [0, 0, 2]
    n_in = policy.aux_head[0].in_features
    tokens = torch.randn(2, n_in)
    loss = policy.aux_loss(tokens, state)
    assert torch.allclose(loss, torch.tensor([(0 + 4 + 0) / 3, (0.25 + 1 + 4) / 3]))
    with pytest.raises(ValueError, match="environment state has 2 values"):
        policy.aux_loss(tokens, state[:, :2])
    with pytest.raises(ValueError, match="no auxiliary head"):
        FlowPolicy(make_config("flow-tiny")).aux_loss(tokens, state)


def square_episodes(n: int = 6, T: int = 20, size: int = 32, seed: int = 0) -> list[Episode]:
    """A white 6-pixel square at a random place on black images; its centre is the object state."""
    rng = np.random.default_rng(seed)
    eps = []
    for _ in range(n):
        xy = rng.integers(3, size - 3, (T, 2))
        img = np.zeros((T, size, size, 3), np.uint8)
        for t, (x, y) in enumerate(xy):
            img[t, y - 3 : y + 3, x - 3 : x + 3] = 255
        state = rng.standard_normal((T, 4)).astype(np.float32)
        eps.append(
            Episode(
                views={"front": img}, state=state, action=np.tanh(state[:, :2]), task="find the square",
                extras={ENV_STATE_KEY: xy.astype(np.float32)},
            )
        )  # fmt: skip
    return eps


def test_aux_loss_teaches_keypoints_to_find_the_object(tmp_path):
    """Learning test: the head's error on the square's position falls well below predicting its mean (1.0
    in normalised units), and the trained policy loads and acts without the object state."""
    overrides = {"views": ["front"], "encoder": "keypoints", "image_size": 32, "conv_channels": [8, 16],
                 "num_keypoints": 8, "keypoint_tokens": 2}  # fmt: skip
    cfg = BCConfig(out=tmp_path / "run", config="flow-tiny", overrides=overrides, steps=100, batch_size=32,
                   lr=3e-3, warmup_steps=10, log_every=10, shift_pad=0, aux_weight=1.0)  # fmt: skip
    final = train_bc(cfg, episodes=square_episodes(), aux_episodes=square_episodes(4, seed=5))
    metrics = read_metrics(tmp_path / "run" / "metrics.jsonl")
    aux, more = [m["aux_loss"] for m in metrics], [m["aux_extra_loss"] for m in metrics]
    assert aux[0] > 0.3 and aux[-1] < 0.05, aux
    assert more[0] > 0.3 and more[-1] < 0.05, more  # the extra frames train the same head
    policy = FlowPolicy.from_pretrained(final)
    assert policy.config.aux_dim == 2
    held_out = square_episodes(1, seed=9)[0]
    batch = {"observation.images.front": held_out.views["front"], "observation.state": held_out.state,
             "task": held_out.task}  # fmt: skip
    with torch.no_grad():
        _, tokens = policy._encode(batch)
        err = policy.aux_loss(tokens, torch.from_numpy(held_out.extras[ENV_STATE_KEY])).mean().item()
    assert err < 0.05, err
    assert policy.sample(batch).shape == (len(held_out), policy.config.chunk_size, 2)


def test_aux_weight_needs_the_object_state_column(tmp_path):
    cfg = BCConfig(out=tmp_path / "run", config="flow-tiny", steps=2, aux_weight=1.0)
    with pytest.raises(ValueError, match="no 'observation.environment_state' column"):
        train_bc(cfg, episodes=toy_episodes())
    cfg.aux_weight = 0.0
    with pytest.raises(ValueError, match="--aux-data needs --aux-weight > 0"):
        train_bc(cfg, episodes=toy_episodes(), aux_episodes=square_episodes(1))


def test_init_fine_tunes_from_a_checkpoint_with_its_normalization(tmp_path):
    from robo_reward.utils.errors import ResumeError, UserError

    base = dict(config="flow-tiny", batch_size=16, warmup_steps=2, log_every=5, ckpt_every=100, shift_pad=2)
    first = train_bc(BCConfig(out=tmp_path / "a", steps=100, lr=3e-3, **base), episodes=toy_episodes())
    init = FlowPolicy.from_pretrained(first)
    new = toy_episodes(seed=5)  # the same state → action function, other states: other statistics
    new_mean = torch.from_numpy(np.concatenate([e.action for e in new]).mean(0))
    assert not torch.allclose(init.action_mean, new_mean, atol=1e-3)
    # a step too small to move the weights: the fine-tune is the checkpoint, its normalization included
    still = FlowPolicy.from_pretrained(
        train_bc(BCConfig(out=tmp_path / "b", steps=1, lr=1e-12, init=first, **base), episodes=new)
    )
    params = dict(still.named_parameters())  # (batch-norm statistics move in one training step)
    for k, v in init.named_parameters():
        assert torch.allclose(params[k], v, atol=1e-6), k
    assert torch.equal(still.action_mean, init.action_mean) and torch.equal(still.state_std, init.state_std)
    # with a real step size it starts where the checkpoint is: below a fresh run's first losses
    for name, init_from in (("c", first), ("d", None)):
        train_bc(BCConfig(out=tmp_path / name, steps=5, lr=3e-3, init=init_from, **base), episodes=new)
    tuned, fresh = (read_metrics(tmp_path / n / "metrics.jsonl")[0]["loss"] for n in ("c", "d"))
    assert tuned < fresh - 0.2  # 1.77 against 2.08 (the checkpoint's own last loss: 1.30)
    # a fine-tune resumes from its own checkpoint, and only with the same --init
    train_bc(BCConfig(out=tmp_path / "c", steps=6, lr=3e-3, init=first, resume=True, **base), episodes=new)
    assert [m["step"] for m in read_metrics(tmp_path / "c" / "metrics.jsonl")] == [5, 6]
    with pytest.raises(ResumeError):
        train_bc(BCConfig(out=tmp_path / "c", steps=7, lr=3e-3, resume=True, **base), episodes=new)
    # --seed decides a fine-tune as it does a fresh run: the same seed twice, the same weights
    runs = [
        FlowPolicy.from_pretrained(
            train_bc(
                BCConfig(out=tmp_path / f"s{i}", steps=2, lr=3e-3, init=first, seed=s, **base), episodes=new
            )
        ).state_dict()
        for i, s in enumerate((0, 0, 1))
    ]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert any(not torch.equal(runs[0][k], runs[2][k]) for k in runs[0])
    wrong = [dataclasses.replace(e, state=e.state[:, :8]) for e in new]
    with pytest.raises(UserError, match="states of 10 .* the data has 8"):
        train_bc(BCConfig(out=tmp_path / "e", steps=1, init=first, **base), episodes=wrong)


def test_colour_swap_mirrors_red_and_blue_in_images_and_words():
    from robo_reward.train.bc.data import colour_swap, swap_red_blue

    assert swap_red_blue("put the red cube on the blue one") == "put the blue cube on the red one"
    assert swap_red_blue("bred a redder blueish red") == "bred a redder blueish blue"  # whole words only
    red, floor = (217, 51, 51), (150, 120, 90)
    img = torch.tensor([[red, floor]], dtype=torch.uint8).expand(3, 2, 2, 3).clone()  # (B, S, S, 3)
    tasks = ["put the red cube on the pad", "open the drawer", "reach the yellow ball"]
    obs = {"observation.images.front": img.clone(), "task": list(tasks)}
    colour_swap(obs, p=0.0)
    assert torch.equal(obs["observation.images.front"], img) and obs["task"] == tasks
    colour_swap(obs, p=1.0)
    out = obs["observation.images.front"]
    assert out[0, 0, 0].tolist() == [51, 51, 217] and out[0, 0, 1].tolist() == [90, 120, 150]
    assert torch.equal(out[1:], img[1:])  # no colour named: untouched
    assert obs["task"] == ["put the blue cube on the pad", "open the drawer", "reach the yellow ball"]
    # only the vivid red and blue pixels: the cube turns, the floor, the green pad and yellow stay
    pixels = torch.tensor([[red, floor, (60, 200, 60), (220, 220, 40), (51, 89, 217)]], dtype=torch.uint8)
    obs = {"observation.images.front": pixels[None].clone(), "task": ["put the red cube on the pad"]}
    colour_swap(obs, p=1.0, pixels="saturated")
    assert obs["observation.images.front"][0, 0].tolist() == [
        [51, 51, 217], list(floor), [60, 200, 60], [220, 220, 40], [217, 89, 51]
    ]  # fmt: skip
