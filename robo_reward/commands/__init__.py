"""The command line: one module per `robo-reward <group>`, each exposing `COMMANDS`.

A command parses its options, calls the layers below it (data, sim, models, rewards, train, real)
and prints; the work itself lives in those layers. `robo_reward.cli` maps group names to these
modules and imports one only when its group runs, so `robo-reward --help` stays fast. Only `bench`
(which runs its recipes through the same commands a user types) and `robo_reward.cli` import this
package; `tests/test_import_layers.py` keeps it so.
"""
