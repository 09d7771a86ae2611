"""Remote policy inference over websockets (openpi-style `infer(obs)` protocol).

`PolicyClient` and the wire format import only numpy, msgpack and websockets, so a robot computer
without torch can drive a policy on a remote GPU. The server lives in `robo_reward.serving.server`.
"""

from robo_reward.serving.client import PolicyClient, PolicyServerError

__all__ = ["PolicyClient", "PolicyServerError"]
