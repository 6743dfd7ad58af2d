"""mmcl's zero-shot numbers re-checked from outside: a tiny open_clip model (a `local-dir:`
architecture of its own) is trained and scored by mmcl, exported, its world's test splits are
written as CLIP_benchmark datasets, and open_clip + webdataset + torch alone (no mmcl) score
the export on them as CLIP_benchmark does. Every image must get the same verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mmcl.cli import main
from mmcl.eval.tasks import unpack_correct
from mmcl.threads import torch_threads

from ..conftest import TINY
from ..train.runs import write_config

ARCH = {  # a 32 px ViT and a one-layer text tower: trains and scores in seconds on a CPU
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                     "layers": 1},
    },
}  # fmt: skip
SPLITS = ("id", "sketch")
# Enough steps that the model tells the ten classes apart (~35% on id): an untrained one puts
# every image in one class, and agreeing on that would check little.
TRAIN = ["train.steps=24", "train.checkpoint_every=24", "train.log_every=12"]


def clip_benchmark_zeroshot(model_dir: Path, dataset_dir: Path, batch_size: int = 64) -> list[bool]:
    """Per-image top-1 correctness of the open_clip folder `model_dir` on the CLIP_benchmark
    dataset folder `dataset_dir`, computed as CLIP_benchmark does (`build_wds_dataset`,
    `metrics/zeroshot_classification.py`) with open_clip, webdataset and torch alone."""
    import open_clip
    import webdataset as wds
    from torch.nn import functional as F

    name = f"local-dir:{model_dir}"
    model, _, transform = open_clip.create_model_and_transforms(name)
    tokenizer = open_clip.get_tokenizer(name)
    model.eval()
    classnames = (dataset_dir / "classnames.txt").read_text().splitlines()
    templates = (dataset_dir / "zeroshot_classification_templates.txt").read_text().splitlines()
    nshards = int((dataset_dir / "test" / "nshards.txt").read_text())
    images = (
        wds.WebDataset(f"{dataset_dir}/test/{{0..{nshards - 1}}}.tar", shardshuffle=False)
        .decode(wds.autodecode.ImageHandler("pil", extensions=["webp", "png", "jpg", "jpeg"]))
        .to_tuple("webp;png;jpg;jpeg", "cls")
        .map_tuple(transform, None)
        .batched(batch_size)
    )
    with torch.no_grad():
        weights = []
        for classname in [c.strip() for c in classnames]:
            texts = tokenizer([t.strip().format(c=classname) for t in templates])
            embedding = F.normalize(model.encode_text(texts), dim=-1).mean(dim=0)  # (D,)
            weights.append(embedding / embedding.norm())
        classifier = torch.stack(weights, dim=1)  # (D, C)
        correct: list[bool] = []
        for pixels, target in images:
            features = F.normalize(model.encode_image(pixels), dim=-1)  # (B, D)
            predicted = (100.0 * features @ classifier).topk(1, dim=1).indices[:, 0]  # (B,)
            correct += (predicted == torch.as_tensor(target)).tolist()
    return correct


def test_open_clip_alone_gives_mmcls_zero_shot_verdicts(tmp_path, world_cache, capsys):
    with torch_threads(1):  # a model this small: thread hand-offs cost more than the arithmetic
        _train_score_export_and_recheck(tmp_path, world_cache, capsys)


def _train_score_export_and_recheck(tmp_path: Path, world_cache: str, capsys) -> None:
    arch = tmp_path / "arch"
    arch.mkdir()
    (arch / "open_clip_config.json").write_text(json.dumps(ARCH))
    overrides = [*TINY, f"data.cache_dir={world_cache}", f"out_dir={tmp_path}", "name=oc",
                 "method.name=clip", "model.image=open_clip", "model.text=open_clip",
                 f"model.open_clip_name=local-dir:{arch}", "eval.tasks=[zeroshot]",
                 f"eval.splits=[{','.join(SPLITS)}]", "eval.after_train=false", *TRAIN]  # fmt: skip
    run, export, bench = tmp_path / "oc", tmp_path / "export", tmp_path / "bench"
    assert main(["train", str(write_config(tmp_path / "oc.yaml", overrides))]) == 0
    assert main(["eval", str(run), "--tasks", "zeroshot"]) == 0
    assert main(["export", str(run), "--out", str(export)]) == 0
    data = [o.removeprefix("data.") for o in overrides if o.startswith("data.")]
    make = ["data", "make", "shapes", *data, "--format", "clip_benchmark", "--out", str(bench)]
    assert main([*make, "--splits", ",".join(SPLITS)]) == 0
    assert "warning" not in capsys.readouterr().err  # a local-dir: model has no name to misload
    records = json.loads((run / "results.json").read_text())["records"]
    (in_distribution,) = [r for r in records if r["split"] == "id" and r["metric"] == "accuracy"]
    assert in_distribution["value"] > 0.2  # twice chance: the verdicts differ from image to image
    for split in SPLITS:
        (record,) = [r for r in records if r["split"] == split and r["metric"] == "accuracy"]
        correct = clip_benchmark_zeroshot(export, bench / split)
        assert correct == unpack_correct(record).tolist(), split
        assert abs(record["value"] - sum(correct) / len(correct)) < 1e-6, split
