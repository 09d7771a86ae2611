"""Instruction encoder shared by the reward model and the policy.

No pretrained language model can be downloaded here, so instructions are tokenised by hashing
lower-cased words and word bigrams into a fixed vocabulary (deterministic, no vocabulary file to
ship), embedded, and pooled with a learned attention query. Paraphrases share most tokens, so the
embedding generalises across them after training on a few. Swap in a pretrained text model by
implementing the same `forward(list[str]) -> (B, dim)`.
"""

from __future__ import annotations

import re
import zlib

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
