"""Zero-shot on a class-subset shift (ImageNet-R style) chooses among that split's classes."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from mmcl.data.world_dataset import normalize
from mmcl.data.worlds import load_world
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.eval.suite import EvalData, evaluate_model
from mmcl.eval.zeroshot import zero_shot_classifier
from mmcl.models.model import ModelConfig, build_model
from mmcl.models.tokenizer import Tokenizer


def test_subset_split_is_scored_among_its_own_classes(tmp_path):
    world = ShapesConfig(n_train=64, n_test=120)
    train, test = (load_world(world, name, tmp_path) for name in ("train", "id"))
    keep = test.labels < 3
    subset = dataclasses.replace(
        test,
        name="subset",
        images=test.images[keep],
        labels=test.labels[keep],
        attributes={k: v[keep] for k, v in test.attributes.items()},
        captions=[c for c, k in zip(test.captions, keep.tolist(), strict=True) if k],
    )
    torch.manual_seed(0)
    cfg = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)
    model = build_model(cfg, 32, with_text=True).eval()
    data = EvalData(
        "shapes",
        train,
        {"all": subset, "subset": subset},
        probe_train_size=32,
        candidate_classes={"subset": torch.tensor([0, 1, 2])},
    )
    records = evaluate_model(model, "m", data, ["zeroshot"], Tokenizer())
    accuracy = {r["split"]: r["value"] for r in records if r["metric"] == "accuracy"}
    metrics = {(r["split"], r["metric"]) for r in records}
    assert ("subset", "mean_per_class_accuracy") in metrics
    assert ("all", "top5_accuracy") in metrics and ("subset", "top5_accuracy") not in metrics

    tokenizer = Tokenizer()
    classifier = zero_shot_classifier(model, tokenizer, train.class_names, train.prompt_templates)
    with torch.no_grad():
        embedding = F.normalize(model.encode_image(normalize(subset.images)), dim=-1)
    logits = embedding @ classifier  # (N, C)
    expected_all = (logits.argmax(-1) == subset.labels).float().mean().item()
    expected_subset = (logits[:, :3].argmax(-1) == subset.labels).float().mean().item()
    assert abs(accuracy["all"] - expected_all) < 1e-6
    assert abs(accuracy["subset"] - expected_subset) < 1e-6
    assert accuracy["subset"] >= accuracy["all"]
