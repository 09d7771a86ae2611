"""robo_reward: reward learning and VLA post-training for robot manipulation."""

__version__ = "0.1.0"
