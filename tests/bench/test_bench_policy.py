"""`bench policy --checkpoint`: a saved policy benches beside the presets, its instruction embedded once."""

from __future__ import annotations

from robo_reward.bench.policy import run


def test_a_saved_instructed_policy_gets_its_own_row(tiny_instructed_policy, capsys):
    out = run(presets=("flow-tiny",), checkpoints=(tiny_instructed_policy,), iters=2, batch_sizes=(1,))
    tiny, saved = out["presets"]
    assert tiny["preset"] == "flow-tiny" and saved["preset"] == str(tiny_instructed_policy)
    assert saved["chunk_ms_p50"] > 0 and saved["throughput"]["1"]["chunks_per_s"] > 0
    assert str(tiny_instructed_policy) in capsys.readouterr().out
