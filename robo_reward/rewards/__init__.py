"""Reward sources and what is built on them: every progress estimate Φ behind one interface
(`sources`), potential-based shaping (`shaping`), the vector-env reward wrappers (`wrappers`), and the
metrics and evaluation harness of a progress source (`metrics`, `evaluation`, `baselines`).

The ROS 2 node that publishes these rewards is `robo_reward.real.reward`; the bounded primitives the
sim's privileged progress is built from are `robo_reward.sim.primitives`.
"""
