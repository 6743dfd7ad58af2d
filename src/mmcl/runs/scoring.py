"""Evaluate a run folder: load its last checkpoint, score every task and shift, write results.

Every record says what it was measured on and how (`evaluate_method`): `dataset` is the data
its split was read from (a world's name, or the folder or file of that very split, so a shift
names its own folder, not the in-distribution one), `precision` is `amp_bf16` (bf16 autocast
around fp32 weights, open_clip's name) or `fp32`, and `preprocess_sha256` keys how pixels
became the model's input, kept once in the file's provenance block (`preprocessing`). The
meta names the mmcl, torch and open_clip versions that scored it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from mmcl import __version__
from mmcl.config import config_hash
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.class_subsets import CLASS_INDEX_LAYOUTS, SUBSET_NAMES
from mmcl.data.sources import data_split, load_split, relabel
from mmcl.data.worlds import WorldSplit
from mmcl.distributed import Shards
from mmcl.errors import MMCLError
from mmcl.eval.features import weights_digest
from mmcl.eval.mmvp import PairSet, read_mmvp_vlm, world_pairs
from mmcl.eval.suite import EvalData, evaluate_model, periodic_tasks, scorable_tasks, task_needs
from mmcl.eval.tasks import CHECKPOINT_RESULTS, provenance_field, with_provenance, write_results
from mmcl.machine import machine_description
from mmcl.methods.base import Method
from mmcl.models.tokenizer import tokenizer_for
from mmcl.runs.keys import run_key
from mmcl.runs.training import load_model, load_trained
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig
from mmcl.train.precision import resolve_precision


def eval_data(
    cfg: RunConfig,
    tasks: Sequence[str],
    feature_dir: Path | None = None,
    shards: Shards | None = None,
) -> EvalData:
    """The splits to score, with what `tasks` need loaded (their `needs`: the attribute split,
    MMVP pairs); `shards` splits their feature extraction over torchrun ranks."""
    if cfg.data.format != "world":
        return format_eval_data(cfg, feature_dir, shards)
    needs = task_needs(tasks)
    return EvalData(
        dataset=cfg.data.world,
        train=load_split(cfg.data, "train"),
        tests={name: load_split(cfg.data, name) for name in cfg.eval.splits},
        probe_train_size=cfg.eval.probe_train_size,
        probe_backend=cfg.eval.probe_backend,
        attribute_split=(
            load_split(cfg.data, cfg.eval.attribute_split)
            if cfg.eval.attribute_split and "attributes" in needs
            else None
        ),
        extra={"seed": cfg.train.seed, "config_hash": config_hash(cfg), "method": cfg.method.name},
        feature_dir=feature_dir,
        mmvp_pairs=mmvp_pairs(cfg) if "mmvp_pairs" in needs else None,
        shards=shards or Shards(),
    )


def format_eval_data(
    cfg: RunConfig, feature_dir: Path | None = None, shards: Shards | None = None
) -> EvalData:
    """Probes fit on (a class-stratified probe_train_size images of) data.path, scored on
    data.val_path; without data.path only zero-shot and retrieval have something to score.

    Labels of both are aligned by class name onto the val split's classes, which are also
    the zero-shot classes; without data.val_path there is nothing to score. Record formats stay
    on disk until extraction streams them (data.num_workers decode), counting bad images then.
    """
    d = cfg.data
    if not d.val_path:
        raise MMCLError(
            f"data.format={d.format}: evaluation needs data.val_path (a labelled split, e.g. an "
            "ImageFolder with data.val_format=imagefolder); or train with --no-eval"
        )
    bad = BadDataLog(d.max_bad_fraction, what="evaluation data")
    val = data_split(d, d.val_format or d.format, d.val_path, "val", None, bad, lazy=True)
    if d.path:
        limit = cfg.eval.probe_train_size
        train = data_split(d, d.format, d.path, "train", limit, bad, lazy=True)
    else:  # nothing to fit probes on: val lends its class names and templates to zero-shot
        train = val
    if val.class_names and train.class_names != val.class_names:
        train = relabel(train, val.class_names)
    tests, candidate_classes = {"val": val}, {}
    for name, path in d.val_shifts.items():
        subset = name if name in SUBSET_NAMES else ""
        shift_cfg = d.with_options("imagefolder", class_subset=subset)
        shift = data_split(shift_cfg, d.val_format or d.format, path, name, None, bad, lazy=True)
        tests[name] = relabel(shift, val.class_names) if val.class_names else shift
        check_relabelled(name, path, shift, tests[name])
        if subset and subset not in CLASS_INDEX_LAYOUTS:
            candidate_classes[name] = tests[name].labels.unique()  # (K,) sorted
    return EvalData(
        dataset=d.val_path,
        train=train,
        tests=tests,
        candidate_classes=candidate_classes,
        probe_train_size=cfg.eval.probe_train_size,
        probe_backend=cfg.eval.probe_backend,
        extra={"seed": cfg.train.seed, "config_hash": config_hash(cfg), "method": cfg.method.name},
        feature_dir=feature_dir,
        workers=d.num_workers,
        shards=shards or Shards(),
        bad_data=bad,
    )


def check_relabelled(name: str, path: str, read: WorldSplit, kept: WorldSplit) -> None:
    """A shift must keep every image it read once labelled with val's classes: a split that
    shrinks was read in the wrong layout (ImageNetV2's class-index folders named otherwise)."""
    if len(kept) == len(read):
        return
    lost = sorted({read.class_names[int(y)] for y in read.labels} - set(kept.class_names))
    hint = (
        f"; its folders look like ImageNet class indices: name the shift imagenet_v2 "
        f"(data.val_shifts={{imagenet_v2: {path}}})"
        if all(c.isdigit() for c in lost)
        else ""
    )
    raise MMCLError(
        f"shift {name!r} ({path}): {len(read) - len(kept)} of {len(read)} images have classes "
        f"val does not have ({', '.join(lost[:3])}{', ...' if len(lost) > 3 else ''}){hint}"
    )


def mmvp_pairs(cfg: RunConfig) -> PairSet:
    """The real MMVP-VLM folder when `eval.mmvp_path` is set, else pairs from the world."""
    if cfg.eval.mmvp_path:
        return read_mmvp_vlm(cfg.eval.mmvp_path, load_split(cfg.data, "train").image_size)
    return world_pairs(cfg.data.world_config(), cfg.eval.mmvp_pairs, seed=cfg.data.shapes.seed)


def periodic_scores(cfg: RunConfig) -> Callable[[Method], dict[str, float]]:
    """What training logs every `eval.every` steps: the model's own accuracy on every split,
    from the tasks registered as cheap enough (`periodic`: zero-shot, the class head).

    Evaluation runs under a forked RNG, so a run with `eval.every` trains on exactly the
    batches and views of one without it.
    """

    def scores(method: Method) -> dict[str, float]:
        with torch.random.fork_rng(devices=[]):
            records = evaluate_method(cfg, method, periodic_tasks())
        return {
            f"eval/{r['task']}/{r['split']}": r["value"]
            for r in records
            if r["metric"] == "accuracy"
        }

    return scores


def evaluate_method(
    cfg: RunConfig,
    method: Method,
    tasks: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    feature_dir: Path | None = None,
    shards: Shards | None = None,
) -> list[dict[str, Any]]:
    """Records of every task on every split; `feature_dir` caches features there by content.

    shards: `Shards.across_ranks()` when every torchrun rank calls this together: each extracts
    a share of every split and all get the same records. Default: this process does it all.
    """
    device = next(method.parameters()).device
    bf16 = resolve_precision(cfg.train.precision, device) == "bf16"
    tasks = tasks or cfg.eval.tasks
    data = eval_data(cfg, tasks, feature_dir, shards)
    if cfg.data.format != "world":  # real data may lack what a task needs: those are left out
        tasks = scorable_tasks(tasks, data)
    data.extra |= {
        "precision": "amp_bf16" if bf16 else "fp32",
        **provenance_field("preprocess", preprocessing(cfg, method.model, data)),
    }
    with torch.no_grad():
        records = evaluate_model(
            method.model,
            cfg.name,
            data,
            tasks,
            tokenizer_for(cfg.model),
            bf16,
            progress,
        )
    folders = split_sources(cfg)
    return [r | {"dataset": folders[r["split"]]} if r["split"] in folders else r for r in records]


def split_sources(cfg: RunConfig) -> dict[str, str]:
    """The folder or file each test split of real data is read from (val and every shift);
    none for a world, whose records name the world and its own split."""
    if cfg.data.format == "world":
        return {}
    return {"val": cfg.data.val_path, **cfg.data.val_shifts}


def preprocessing(cfg: RunConfig, model: Any, data: EvalData) -> dict[str, Any]:
    """How a stored image became the model's input: size, resize and crop (files are resized
    on the shorter side with PIL bicubic and centre-cropped; a world is rendered at its size),
    and the mean and std the pixels are normalised by as the model sees them (an open_clip
    model re-normalises to its own, `OpenCLIPModel`). An open_clip model's own declared
    preprocessing is kept beside it (`model_preprocess_cfg`), so an outside check sees where
    open_clip's transform for that model would differ (a `squash` resize, say)."""
    declared = _declared_preprocess(model)
    rendered = cfg.data.format == "world"
    steps = {
        "image_size": next(iter(data.tests.values())).image_size,
        "mode": "RGB",
        "resize_mode": "none" if rendered else "shortest",
        "interpolation": "none" if rendered else "bicubic",
        "crop": "none" if rendered else "center",
        "mean": list(declared.get("mean", OPENAI_DATASET_MEAN)),
        "std": list(declared.get("std", OPENAI_DATASET_STD)),
    }
    if declared:
        steps["model_preprocess_cfg"] = json.loads(json.dumps(declared))  # tuples as lists
    return steps


def _declared_preprocess(model: Any) -> dict[str, Any]:
    """open_clip's preprocessing config of a whole open_clip model (`OpenCLIPModel.clip`);
    {} for mmcl's own towers, which see pixels normalised with the OpenAI statistics."""
    clip = getattr(model, "clip", None)
    if clip is None:
        return {}
    from open_clip import get_model_preprocess_cfg

    return dict(get_model_preprocess_cfg(clip))


def score_run(
    cfg: RunConfig,
    method: Method,
    run_dir: Path,
    tasks: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    feature_dir: Path | None = None,
    shards: Shards | None = None,
) -> list[dict[str, Any]]:
    """Records of a run's model as it stands at its latest checkpoint, each naming that
    checkpoint (a multistage run keeps one per stage and names none) and the digest of the
    weights scored."""
    records = evaluate_method(cfg, method, tasks, progress, feature_dir, shards)
    scored = ckpt.latest_checkpoint(run_dir / "checkpoints")
    named = {"weights": weights_digest(method.model)}
    if scored is not None:
        named["checkpoint"] = scored.name
    return [r | named for r in records]


def scoring_meta(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """What any results file says of its scoring: when, where, the config's hash and key, and
    the versions of mmcl, torch and open_clip that scored it (no training fields: a model
    scored by `mmcl eval --model` was not trained here)."""
    return {
        "mmcl_version": __version__,
        "torch_version": torch.__version__,
        "open_clip_version": metadata.version("open_clip_torch"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run": cfg.name,
        "run_dir": str(run_dir),
        "config_hash": config_hash(cfg),
        "run_key": run_key(cfg),
        "machine": machine_description(),
    }


def results_meta(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """The meta of a run trained here: `scoring_meta`, its seed, method and steps, and its
    architecture (`architecture`)."""
    return scoring_meta(cfg, run_dir) | {
        "seed": cfg.train.seed,
        "method": cfg.method.name,
        "steps": cfg.train.steps,
        "architecture": architecture(cfg),
    }


def architecture(cfg: RunConfig) -> str:
    """The model's architecture: open_clip's name for a whole open_clip model (what
    `open_clip.create_model` and CLIP_benchmark's `--model` take), else mmcl's towers
    (`IMAGE+TEXT`, a timm trunk by its name)."""
    m = cfg.model
    if m.image == m.text == "open_clip":
        return m.open_clip_name
    image = f"timm:{m.timm_name}" if m.image == "timm" else m.image
    return f"mmcl:{image}+{m.text}"


def evaluate_run(
    run_dir: Path,
    tasks: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    shards: Shards | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Score the run's latest checkpoint on `device` and write `results.json` (the main rank,
    under torchrun); returns its content. Each record names the checkpoint it came from.

    Features are cached in `run_dir/features`, keyed by weights and data, so re-scoring the same
    checkpoint (other tasks, a second call) runs no forward pass.
    """
    shards = shards or Shards()
    cfg, method = load_trained(run_dir)
    method.to(device)
    records = score_run(cfg, method, run_dir, tasks, progress, run_dir / "features", shards)
    meta = results_meta(cfg, run_dir) | {"tasks": list(tasks or cfg.eval.tasks)}
    if shards.is_main:
        write_results(run_dir / "results.json", meta, records)
    return {"meta": with_provenance(meta, records), "records": records}


def evaluate_checkpoints(
    run_dir: Path,
    tasks: Sequence[str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    shards: Shards | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Score every kept checkpoint on `device`, oldest first; writes `checkpoint_results.json`
    (the main rank, under torchrun).

    Each record names its checkpoint (file and step), so the report can draw the run's path on
    the id-shift plane after the fact, as `eval.every` does during training.
    """
    shards = shards or Shards()
    paths = ckpt.checkpoint_files(run_dir / "checkpoints")
    if not paths:
        raise MMCLError(
            f"{run_dir}/checkpoints holds no step_*.pt checkpoint to score (a multistage run "
            "keeps its checkpoints per stage; score it with --checkpoint latest)"
        )
    for path in paths:  # all readable before any is scored: no half a curve
        ckpt.readable_or_explain(path, run_dir)
    cfg, method = load_model(paths[0])
    method.to(device)
    records = []
    for index, path in enumerate(paths):
        payload = ckpt.load_checkpoint(path)
        method.load_state_dict(payload["method"])
        progress(f"checkpoint {path.name} ({index + 1}/{len(paths)})")
        scored = evaluate_method(cfg, method, tasks, progress, run_dir / "features", shards)
        step = int(payload["state"]["step"])
        named = {"checkpoint": path.name, "step": step, "weights": weights_digest(method.model)}
        records += [r | named for r in scored]
    meta = results_meta(cfg, run_dir) | {"checkpoints": [p.name for p in paths]}
    if shards.is_main:
        write_results(run_dir / CHECKPOINT_RESULTS, meta, records)
    return {"meta": with_provenance(meta, records), "records": records}
