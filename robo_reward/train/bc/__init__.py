"""Behaviour cloning of the flow-matching policy (`robo-reward policy train`)."""

from robo_reward.train.bc.trainer import BCConfig, train_bc

__all__ = ["BCConfig", "train_bc"]
