"""Wire format: msgpack with numpy arrays as `{"__ndarray__": True, "data", "dtype", "shape"}` maps.

Numeric dtypes only (no object arrays, nothing unpickled). Imports numpy and msgpack only.

Session: the server first sends its metadata (a map), then answers every request with either
`{"actions": (H, A) float32, "server_timing": {...}}` or `{"error": "message"}` (the connection stays open).
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

DEFAULT_MAX_SIZE = 32 * 2**20  # bytes per message; three 480x640 RGB views are ~2.8 MB
TOKEN_ENV = "ROBO_REWARD_POLICY_TOKEN"  # the shared secret, when the server is started with one
_ALLOWED_KINDS = set("biuf")  # bool, signed, unsigned, float


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"cannot send arrays of dtype {obj.dtype} (numeric dtypes only)")
        return {
            "__ndarray__": True,
            "data": np.ascontiguousarray(obj).tobytes(),
            "dtype": obj.dtype.str,
            "shape": list(obj.shape),
        }
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _decode(obj: dict) -> Any:
    if obj.get("__ndarray__") is True:
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in _ALLOWED_KINDS:
            raise ValueError(f"refusing array of dtype {dtype}")
        shape = tuple(int(s) for s in obj["shape"])
        data = obj["data"]
        if len(data) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"array payload of {len(data)} bytes does not fit shape {shape} {dtype}")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()  # writable, owns its memory
    return obj


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_encode, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, object_hook=_decode, raw=False, strict_map_key=False)
