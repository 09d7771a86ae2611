"""A new RL algorithm is one config dataclass and one decorated class (the README's "Add an RL
algorithm"): once registered, the trainer runs it by name through the protocol, checkpoints it and
resumes it. The toy here executes the frozen policy's own chunks and counts what it is shown."""

import json
from dataclasses import dataclass
from typing import ClassVar

import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.sim import STATE_NAMES
from robo_reward.train.rl.algorithm import ALGORITHMS, Algorithm, AlgorithmConfig, register
from robo_reward.train.rl.configuration_rl import LogConfig, RLConfig, RolloutConfig
from robo_reward.train.rl.rollout import Decision
from robo_reward.train.rl.trainer import train


@dataclass
class CountingConfig(AlgorithmConfig):
    name: ClassVar[str] = "toy-counting"
    update_every: int = 2  # transitions between updates


class Counting(Algorithm):
    name, config_class = "toy-counting", CountingConfig

    def __init__(self, *args):
        super().__init__(*args)
        self.seen, self.pending, self.updates = 0, 0, 0

    def act(self, batch: dict) -> Decision:
        features = self.policy.encode(batch)
        chunks = self.policy.sample(batch, generator=self.generator).cpu().numpy()
        return Decision(obs=features, chunks=chunks, records=[{} for _ in range(len(chunks))])

    def embed(self, batch: dict) -> torch.Tensor:
        return self.policy.encode(batch)

    def observe(self, transitions) -> None:
        self.seen += len(transitions)
        self.pending += len(transitions)

    def ready(self) -> bool:
        return self.pending >= self.algo.update_every

    def update(self) -> dict[str, float]:
        self.pending, self.updates = 0, self.updates + 1
        return {"charts/seen": float(self.seen)}

    def save(self, folder) -> None:
        (folder / "counting.json").write_text(json.dumps({"seen": self.seen, "updates": self.updates}))

    def load(self, folder) -> None:
        state = json.loads((folder / "counting.json").read_text())
        self.seen, self.updates = state["seen"], state["updates"]

    def export(self, folder, extras=None):
        return self.policy.save_pretrained(folder, extras=extras)


def test_a_registered_algorithm_trains_checkpoints_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setitem(ALGORITHMS, "toy-counting", Counting)  # taken out again after the test
    assert register(Counting) is Counting
    torch.manual_seed(0)
    init = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(tmp_path / "init")
    cfg = RLConfig(task="reach", init=str(init), rollouts=2, algo=CountingConfig(),
                   rollout=RolloutConfig(num_envs=2, max_steps=6, image_size=32), log=LogConfig(checkpoint_every=1))  # fmt: skip
    assert cfg.algorithm == "toy-counting"
    summary = train(cfg, tmp_path / "run")
    assert summary["episodes"] == 2 and (tmp_path / "run" / "policy" / "config.json").exists()
    saved = json.loads((tmp_path / "run" / "checkpoint" / "counting.json").read_text())
    assert saved["seen"] >= 2 * 3 and saved["updates"] >= 3  # 2 episodes of 6 steps, 2 steps per decision
    more = RLConfig(**{**cfg.__dict__, "rollouts": 4})
    train(more, tmp_path / "run", resume=True)
    resumed = json.loads((tmp_path / "run" / "checkpoint" / "counting.json").read_text())
    assert (
        resumed["seen"] > saved["seen"] and resumed["updates"] > saved["updates"]
    )  # continued, not restarted
