"""Cameras: frame sources, N-view approximate-time sync, and the preprocessing pipeline.

Import the submodules directly (`robo_reward.cameras.sync`, `.sources`, `.preprocess`); this package
imports nothing heavy so that the ROS nodes and the sync logic stay cheap to load.
"""

from robo_reward.cameras.frame import Frame

__all__ = ["Frame"]
