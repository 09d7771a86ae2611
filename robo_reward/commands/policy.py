"""`robo-reward policy {train, eval, serve}` for the flow-matching policy."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from robo_reward.utils.cli_helpers import console, emit_json, parse_overrides, print_table


def train(
    data: list[Path],
    out: Path,
    config: str = "flow-small",
    init: Path | None = None,
    steps: int = 3000,
    batch_size: int = 64,
    lr: float = 3e-4,
    ema_decay: float = 0.0,
    image_size: int | None = None,
    chunk_size: int | None = None,
    override: list[str] | None = None,
    shift_pad: int = 4,
    colour_swap: float = 0.0,
    colour_swap_pixels: Literal["all", "saturated"] = "all",
    balance: Literal["task", "sqrt_frames", "frames"] = "task",
    aux_weight: float = 0.0,
    aux_data: list[Path] | None = None,
    include_failures: bool = False,
    max_episodes: int | None = None,
    log_every: int = 50,
    ckpt_every: int = 1000,
    seed: int = 0,
    threads: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> Path:
    """Behaviour cloning from one or more datasets (multi-task); success episodes only by default.

    `--override width=128 trunk_depth=2` changes any FlowPolicyConfig field (JSON values).
    `--balance sqrt_frames` gives each task a share of the batches ∝ √ its frames (default `task`: equal
    shares; `frames`: every frame alike).
    `--init CHECKPOINT` fine-tunes a trained policy (e.g. `models/flow-vla-sim` on new demos): its
    architecture, normalization and weights are the start; `--config` and `--override` are not used.
    `--colour-swap 0.5` mirrors half the samples whose instruction names red or blue: the images' red and
    blue channels and the two words exchanged, so what is shown done with one cube is shown with the other.
    `--colour-swap-pixels saturated` mirrors only vivid red or blue pixels (the cubes), not the floor.
    `--ema-decay 0.999` saves the exponential moving average of the weights as the model.
    `--aux-weight 1` adds an auxiliary loss: a head predicts the privileged object state the sim suite
    records (`observation.environment_state`) from the image tokens; acting never uses it.
    `--aux-data DIR` adds datasets whose frames train only that head (their actions are not used).
    Run under `torchrun --nproc-per-node N` for DDP (gloo on CPU with GLOO_SOCKET_IFNAME=lo).
    OUT must be empty (or `--overwrite` it); `--resume` continues its run with the same options
    (`--steps` may grow) from its newest verified checkpoint.
    """
    from robo_reward.utils.preflight import (
        check_out_folder,
        require_datasets,
        require_fraction,
        require_positive,
    )

    require_datasets(data)
    if aux_data:
        require_datasets(aux_data, "--aux-data")
    check_out_folder(out, resume=resume, overwrite=overwrite)
    require_positive(steps=steps, batch_size=batch_size, lr=lr, log_every=log_every, ckpt_every=ckpt_every)
    require_fraction("ema_decay", ema_decay)
    overrides = parse_overrides(override or [])
    if image_size is not None:
        overrides["image_size"] = image_size
    if chunk_size is not None:
        overrides["chunk_size"] = chunk_size
    if init is not None:
        _check_init(init, overrides)
    else:
        _check_policy_config(config, overrides)

    from robo_reward.train.bc import BCConfig, train_bc

    cfg = BCConfig(
        out=out, data=list(data), config=config, overrides=overrides, init=init, steps=steps,
        batch_size=batch_size, lr=lr, ema_decay=ema_decay, shift_pad=shift_pad, colour_swap=colour_swap,
        colour_swap_pixels=colour_swap_pixels, balance=balance, aux_weight=aux_weight,
        aux_data=list(aux_data or []),
        outcomes=("success", "partial", "failure") if include_failures else ("success",),
        max_episodes=max_episodes, log_every=log_every, ckpt_every=ckpt_every, seed=seed, threads=threads,
        resume=resume, overwrite=overwrite,
    )  # fmt: skip
    final = train_bc(cfg)
    console.print(f"policy saved to {final}")
    return final


def _check_init(init: Path, overrides: dict) -> None:
    """A policy checkpoint to fine-tune, and no architecture options beside it."""
    from robo_reward.utils.errors import UserError

    if not (init / "config.json").is_file() or not (init / "model.safetensors").is_file():
        raise UserError(f"--init {init}: not a policy checkpoint (config.json + model.safetensors)")
    if overrides:
        raise UserError(
            f"--init takes the architecture from {init}: drop --override/--image-size/--chunk-size "
            f"({', '.join(sorted(overrides))})"
        )


def _check_policy_config(preset: str, overrides: dict) -> None:
    """A known preset, and overrides that name its fields (cheap: no torch)."""
    import dataclasses

    from robo_reward.models.flow_policy.configuration_flow_policy import PRESETS, FlowPolicyConfig
    from robo_reward.utils.errors import UserError

    if preset not in PRESETS:
        raise UserError(f"unknown policy preset {preset!r}: choose one of {', '.join(sorted(PRESETS))}")
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(FlowPolicyConfig)})
    if unknown:
        raise UserError(
            f"--override: {', '.join(unknown)} not a field of the policy config (see FlowPolicyConfig)"
        )


def eval(
    checkpoint: Path,
    task: str = "pick_place",
    episodes: int = 20,
    num_envs: int = 2,
    seed: int = 1000,
    wordings: Literal["canonical", "train", "held_out"] = "canonical",
    n_action_steps: int | None = None,
    temporal_ensemble: float | None = None,
    num_steps: int | None = None,
    noise_scale: float | None = None,
    candidates: int | None = None,
    guide: Literal["min", "mean"] | None = None,
    record: int = 3,
    sheet_dir: Path | None = None,
    json: Path | None = None,
    threads: int | None = None,
) -> dict:
    """Success rate (Wilson 95 % CI) and final progress in sim, per task and per instruction wording.

    `--task all` runs every native task, each grounding scene as its tasks (`pick_place_color:red`, ...);
    a scene's name runs its tasks. A scene's tasks run on the same seeds (the same initial states under
    each instruction) and print its confusion table: instruction given × task achieved.
    `--wordings train|held_out` draws each episode's instruction from the task's training or held-out
    wordings (by seed) instead of the canonical one. Seeds start at 1000 by default, away from the seeds
    demos are usually collected with (0, 1, ...). `--noise-scale` overrides the checkpoint's acting
    temperature (config `noise_scale`). An off-policy RL fine-tune acts with its actor's mode, or with
    `--candidates K` value-guided: the best of the mode and K − 1 actor samples by the run's critics
    (`--guide min|mean` over the ensemble).
    """
    from robo_reward.utils.preflight import require_checkpoint, require_positive

    require_checkpoint(checkpoint)
    require_positive(episodes=episodes, num_envs=num_envs)

    from robo_reward.sim.suite_evaluation import evaluation_tasks

    tasks = evaluation_tasks(task)

    import torch

    from robo_reward.models.flow_policy.steering import load_policy
    from robo_reward.sim.suite_evaluation import evaluate_suite

    if threads:
        torch.set_num_threads(threads)
    # a BC policy, or an RL fine-tune steering a frozen one (a refusal is a one-line error from the CLI)
    policy = load_policy(checkpoint, candidates=candidates, guide=guide)
    sheets = sheet_dir or (json.parent if json else Path("runs/policy-eval"))
    suite = evaluate_suite(
        policy, tasks, episodes=episodes, num_envs=num_envs, seed=seed, wordings=wordings,
        n_action_steps=n_action_steps, temporal_ensemble=temporal_ensemble, num_steps=num_steps,
        noise_scale=noise_scale, record=record, sheet_dir=sheets,
    )  # fmt: skip
    _print_suite(f"policy {checkpoint} ({wordings} wordings)", suite)
    out = {"checkpoint": str(checkpoint), **suite}
    emit_json(json, out)
    return out


def _print_suite(title: str, suite: dict) -> None:
    rows = [
        {
            "task": r["task"],
            "success": r["success_rate"],
            "ci95": f"[{r['success_ci95'][0]:.2f}, {r['success_ci95'][1]:.2f}]",
            "final_progress": r["mean_final_progress"],
            "episodes": r["episodes"],
            "wall_s": r["wall_s"],
        }
        for r in suite["tasks"]
    ]
    print_table(title, rows)
    if len(suite["tasks"]) > 1:
        print_table("per instruction", suite["instructions"])
        print_table(
            "summary",
            [
                {"over": k, **{n: v for n, v in s.items() if n != "pooled_ci95"}}
                for k, s in suite["summary"].items()
            ],
        )
    for scene, table in suite["confusion"].items():
        print_table(
            f"{scene}: instruction given × task achieved (grounded {table['grounded_rate']:.2f}, "
            f"every instruction its own task on {table['swap_rate']:.2f} of the initial states)",
            table["rows"],
        )


def serve(
    checkpoint: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "cpu",
    num_steps: int | None = None,
    token: str | None = None,
) -> None:
    """Websocket policy server (msgpack numpy observations → action chunks); see robo_reward.serving.

    Listens on this machine only unless `--host 0.0.0.0` (or an interface address) says otherwise;
    `--token SECRET` (or $ROBO_REWARD_POLICY_TOKEN, which stays out of the process list) makes
    clients send that secret.
    """
    from robo_reward.utils.preflight import require_checkpoint

    require_checkpoint(checkpoint)

    from robo_reward.serving.server import serve_checkpoint

    console.print(f"serving {checkpoint} on ws://{host}:{port}")
    serve_checkpoint(str(checkpoint), host=host, port=port, device=device, num_steps=num_steps, token=token)


def rollouts(
    checkpoint: Path,
    out: Path,
    task: str = "pick_place",
    episodes: int = 20,
    seed: int = 0,
    image_size: int = 96,
    noise_scale: float | None = None,
    overwrite: bool = False,
    threads: int | None = 1,
) -> Path:
    """Record the policy's own rollouts of `task` (comma list) as a dataset, labelled with the simulator's
    progress, stage and success per frame: the states a reward model must rank, beside the demos.

    Episode i of task j uses env seed `seed + 100000·j + i`. `--noise-scale` sets the sampling
    temperature (default: the checkpoint's). Works with BC policies and RL fine-tunes alike.
    """
    from robo_reward.data.lerobot_io import write_dataset
    from robo_reward.models.flow_policy.steering import load_policy
    from robo_reward.sim import STATE_NAMES
    from robo_reward.sim.policy_rollouts import collect_policy_episodes
    from robo_reward.utils.cli_helpers import set_threads
    from robo_reward.utils.logging import progress_bar

    set_threads(threads)
    policy = load_policy(checkpoint)
    names = [t.strip() for t in task.split(",") if t.strip()]
    eps = []
    with progress_bar() as bar:
        job = bar.add_task("rollouts", total=episodes * len(names), info=str(checkpoint))
        for j, name in enumerate(names):
            eps += collect_policy_episodes(
                policy, name, episodes, seed=seed + 100_000 * j, image_size=image_size, noise_scale=noise_scale,
                on_episode=lambda _: bar.advance(job),
            )  # fmt: skip
    for e in eps:  # object-state widths differ between tasks; no learned model reads them
        e.extras.clear()
    write_dataset(eps, out, state_names=list(STATE_NAMES), action_names=["dx", "dy", "dz", "drx", "dry", "drz",
                  "gripper"], overwrite=overwrite)  # fmt: skip
    outcomes = {o: sum(e.outcome == o for e in eps) for o in ("success", "partial", "failure")}
    console.print(f"wrote {len(eps)} rollouts ({outcomes}) to {out}")
    return out


COMMANDS = {"train": train, "eval": eval, "serve": serve, "rollouts": rollouts}
