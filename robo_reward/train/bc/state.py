"""Former home of the optimizer-state and DDP helpers, kept so existing imports keep working.

New code imports `robo_reward.utils.training_state` (optimizer and RNG state) and
`robo_reward.utils.distributed` (DDP setup).
"""

from robo_reward.utils.distributed import cleanup_distributed, init_distributed
from robo_reward.utils.training_state import load_optimizer, save_optimizer

__all__ = ["cleanup_distributed", "init_distributed", "load_optimizer", "save_optimizer"]
