"""Xue's image sweep on captions read from files: richness by caption edits, not presets."""

from __future__ import annotations

from mmcl import stats
from mmcl.cli import main
from mmcl.experiments.xue2024 import images as xue_images
from mmcl.experiments.xue2024.image_claims import image_claims

TINY = [
    "model.width=4",
    "model.text_width=32",
    "model.text_layers=1",
    "model.text_heads=2",
    "model.embed_dim=16",
    "train.steps=2",
    "train.warmup_steps=1",
    "train.batch_size=8",
    "train.checkpoint_every=2",
    "data.image_size=32",
    "eval.probe_train_size=32",
]


def test_sweep_on_a_csv_with_labels_edits_captions_and_keeps_the_baseline(tmp_path, world_cache):
    args = ["data", "make", "shapes", "shapes.n_train=48", "shapes.n_test=32"]
    args += [f"cache_dir={world_cache}", "--out", str(tmp_path / "data")]
    assert main([*args, "--format", "csv", "--splits", "train,id,sketch"]) == 0
    csv = tmp_path / "data"
    overrides = [
        *TINY,
        "data.format=csv",
        f"data.path={csv / 'train.csv'}",
        "data.csv.label_key=label",
        f"data.val_path={csv / 'id.csv'}",
        f"data.val_shifts={{sketch: {csv / 'sketch.csv'}}}",
    ]
    records = xue_images.run_images("tiny", [0], tmp_path / "runs", overrides)

    runs = {(r["learner"], r["preset"]) for r in records}
    assert runs == {("clip", e) for e in xue_images.EDITS} | {("supervised", "labels")}
    assert {r["split"] for r in records} == {"val", "sketch"}
    assert xue_images.image_test_design(overrides) == stats.SHARED  # one set of files, all seeds
    claims = image_claims(records, test=stats.SHARED)
    assert [c["id"] for c in claims] == ["IMG-C1", "IMG-C4"]
    assert " < ".join(xue_images.EDITS) in claims[1]["statement"]
    assert all(c["verdict"] == "inconclusive" for c in claims)  # one seed
    # files have no `balanced` split: no attribute probes, no precondition stated
    assert "attributes" not in {r["task"] for r in records}
    assert all(c["precondition"]["rule"] == "none stated" for c in claims)
    assert "sketch" in claims[0]["statement"]  # the mean over the shifts the user gave
