"""Score a model nobody trained here: any open_clip architecture with its checkpoint, on an
ImageNet-style folder and its shifted test sets (`mmcl eval --model ...`).

The model and data become an ordinary `RunConfig` (a whole open_clip model, ImageFolder splits
named by the user), so scoring goes through the same `evaluate_method` as a trained run and
the results file is the same kind: `mmcl report` and `mmcl robustness` read it. Nothing was
trained, so neither the meta nor the records carry the run config's training fields (seed,
method, steps: defaults of the vehicle config, meaning nothing here); they name the model
instead, its open_clip architecture (`model` in the meta, `architecture` in each record) and
its checkpoint (`pretrained`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mmcl.config import load_config, save_config
from mmcl.data.formats.class_subsets import imagenet_wnids
from mmcl.distributed import Shards
from mmcl.errors import MMCLError
from mmcl.eval.tasks import with_provenance, write_results
from mmcl.methods.base import DataInfo, build_method
from mmcl.models.open_clip_model import native_image_size
from mmcl.runs.scoring import evaluate_method, scoring_meta
from mmcl.train.config import RunConfig

NEEDS_TRAIN = ("linear_probe", "knn")  # tasks that fit on a training split
TRAINING_FIELDS = ("seed", "method")  # record fields of a run trained here, left out


@dataclass
class PretrainedEval:
    """What to score: an open_clip model and checkpoint, an id split and its shifts."""

    model: str  # open_clip architecture (or local-dir:FOLDER)
    pretrained: str  # checkpoint file or open_clip model folder; "" = random init
    id_name: str  # what the in-distribution split is called in results (e.g. imagenet)
    id_path: str  # its folder
    shifts: dict[str, str] = field(default_factory=dict)  # name -> folder
    train_path: str = ""  # a labelled folder the probes fit on
    tasks: Sequence[str] = ("zeroshot",)
    templates: Sequence[str] = ()  # default: openai_imagenet for ImageNet folders
    image_size: int = 0  # 0 = the model's own
    data_format: str = "imagefolder"
    workers: int = 0  # image-decoding DataLoader workers per process (0: the process itself)


def default_templates(folder: str) -> list[str]:
    """CLIP's 80 ImageNet templates for a folder of ImageNet wnids, else one plain template."""
    root = Path(folder)
    wnids = set(imagenet_wnids())
    names = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return ["openai_imagenet"] if names and all(n in wnids for n in names) else ["a photo of a {}."]


def run_config(spec: PretrainedEval) -> RunConfig:
    """The run config that describes the evaluation (written beside its results)."""
    missing = [t for t in spec.tasks if t in NEEDS_TRAIN]
    if missing and not spec.train_path:
        raise MMCLError(f"--tasks {','.join(missing)} fit on a training split: give --train DIR")
    size = spec.image_size or native_image_size(spec.model)
    overrides = [
        "method.name=clip",
        "model.image=open_clip",
        "model.text=open_clip",
        f"data.format={spec.data_format}",
        f"data.val_path={spec.id_path}",
        f"data.image_size={size}",
        f"data.num_workers={spec.workers}",
        f"eval.tasks=[{','.join(spec.tasks)}]",
    ]
    cfg = load_config(RunConfig, None, overrides)
    cfg.name = f"eval_{Path(spec.model.removeprefix('local-dir:')).name}"
    cfg.model.open_clip_name = spec.model
    cfg.model.pretrained = spec.pretrained
    cfg.data.path = spec.train_path
    cfg.data.val_shifts = dict(spec.shifts)
    cfg.data.prompt_templates = list(spec.templates) or default_templates(spec.id_path)
    cfg.data.__post_init__()  # expand template presets
    return cfg


def pretrained_record(record: dict[str, Any], id_name: str) -> dict[str, Any]:
    """A record of the vehicle run as one of the pretrained model: the val split under the name
    the user gave it, without the training fields."""
    kept = {k: v for k, v in record.items() if k not in TRAINING_FIELDS}
    return kept | {"split": id_name} if record["split"] == "val" else kept


def evaluate_pretrained(
    spec: PretrainedEval,
    out_dir: Path,
    progress: Callable[[str], None] = lambda m: None,
    shards: Shards | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Score the model on every split on `device`; writes OUT/results.json and OUT/config.yaml
    (the main rank, when `shards` split the work over torchrun ranks)."""
    shards = shards or Shards()
    cfg = run_config(spec)
    method = build_method(cfg.method, cfg.model, DataInfo(cfg.data.image_size, 0)).to(device)
    features = out_dir / "features"
    scored = evaluate_method(cfg, method, list(spec.tasks), progress, features, shards)
    named = {"architecture": spec.model, "pretrained": spec.pretrained}
    records = [pretrained_record(r, spec.id_name) | named for r in scored]
    meta = scoring_meta(cfg, out_dir) | {
        "model": spec.model,
        "pretrained": spec.pretrained,
        "templates": len(cfg.data.prompt_templates),
    }
    if shards.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.yaml")
        write_results(out_dir / "results.json", meta, records)
    return {"meta": with_provenance(meta, records), "records": records}
