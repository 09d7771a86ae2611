"""Trainers: reward model, BC, online RL, DPO."""
