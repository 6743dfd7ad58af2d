"""The MCL stage driver: one Trainer per stage in `run_dir/stage_k`, k-means between stages.

Stage k (1-based) trains the base method from the initial weights (or stage k-1's with
`method.mcl.warm_start`) with negatives restricted to the groups accumulated from the clusters of
stages < k (`mmcl.data.clusters`), through cluster-homogeneous batches or a negative mask. After
training, the stage's normalized image embeddings of the (unaugmented) train split are clustered;
`stage_k/clusters.pt` is written last, so it marks a finished stage. `resume=True` skips finished
stages (loading their weights and clusters) and continues the unfinished one from its latest
checkpoint, mid-stage.

Seeds: every stage's model is built under `train.seed` (the same initial weights, the
reference's choice); stage k's data order and augmentations use `train.seed + k - 1`, so a stage
on random batches is a genuinely different run (the paper's "ordinary second seed" control).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from mmcl.config import from_dict, save_config, to_dict
from mmcl.data.cluster_sampler import ClusterBatchSampler
from mmcl.data.clusters import accumulate_groups, kmeans
from mmcl.data.sources import load_split
from mmcl.data.world_dataset import WorldDataset
from mmcl.data.worlds import WorldSplit
from mmcl.errors import MMCLError
from mmcl.io import atomic_write
from mmcl.methods.base import DataInfo, Method
from mmcl.methods.mcl import MCL, build_base
from mmcl.models.model import ContrastiveModel
from mmcl.models.multistage import MultiStageModel
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig, as_written
from mmcl.train.distributed import Runtime, setup_runtime
from mmcl.train.trainer import Trainer, seed_everything

log = logging.getLogger(__name__)

CLUSTERS_FILE = "clusters.pt"


def stage_dir(run_dir: Path, k: int) -> Path:
    return Path(run_dir) / f"stage_{k}"


def stage_config(cfg: RunConfig, k: int) -> RunConfig:
    """The config stage k's Trainer runs, saves and resumes with (own name and data seed)."""
    return replace(
        cfg, name=f"{cfg.name}-stage{k}", train=replace(cfg.train, seed=cfg.train.seed + k - 1)
    )


def first_stage(cfg: RunConfig) -> int:
    """0 when the initial weights count as a stage (`mcl.initial_stage`), else 1."""
    return 0 if cfg.method.mcl.initial_stage else 1


def read_clusters(run_dir: Path, k: int) -> np.ndarray | None:
    """Stage k's cluster labels (N,), or None when the stage has not finished."""
    path = stage_dir(run_dir, k) / CLUSTERS_FILE
    if not path.is_file():
        return None
    return torch.load(path, weights_only=True)["labels"].numpy()


def stage_groups(cfg: RunConfig, run_dir: Path, k: int) -> np.ndarray | None:
    """Group id per training sample for stage k, from the clusters of stages before it."""
    labels = [read_clusters(run_dir, j) for j in range(first_stage(cfg), k)]
    if not labels:
        return None
    if any(lab is None for lab in labels):
        raise MMCLError(f"{run_dir}: stage {k} needs the clusters of every earlier stage")
    return accumulate_groups(labels, cfg.method.mcl.clusters, cfg.method.mcl.latest_only)


def initial_method(cfg: RunConfig, info: DataInfo, groups: np.ndarray | None = None) -> MCL:
    """A stage's method with the initial weights (the same for every stage: seeded build)."""
    seed_everything(cfg.train.seed)
    base = build_base(cfg.method, cfg.model, info)
    tensor = None if groups is None else torch.as_tensor(groups, dtype=torch.long)
    return MCL(base, cfg.method.mcl.base, tensor)


def _resume_view(scfg: RunConfig, k: int) -> dict:
    """Stage k's config as compared on resume, without the settings stage k does not use.

    `latest_only` changes only the groups of a stage with two or more earlier clusterings, so a
    stage before that is the same stage either way: a `latest_only` ablation can start from a
    copy of the stages it shares with the accumulated run.
    """
    if k - first_stage(scfg) < 2:
        mcl = replace(scfg.method.mcl, latest_only=False)
        scfg = replace(scfg, method=scfg.method.with_section("mcl", mcl))
    return to_dict(scfg)


def _load_stage_weights(method: MCL, cfg: RunConfig, run_dir: Path, k: int) -> None:
    """Final weights of finished stage k into `method`; its config must match this run's."""
    path = ckpt.latest_checkpoint(stage_dir(run_dir, k) / "checkpoints")
    if path is None:
        raise MMCLError(f"{stage_dir(run_dir, k)} has clusters but no checkpoint; delete it")
    payload = ckpt.load_checkpoint(path)
    # Read through the current schema, so keys added to the config since (at their defaults)
    # do not make a finished stage unreadable; any value that differs still does.
    saved = from_dict(RunConfig, as_written(payload["config"]))
    if _resume_view(saved, k) != _resume_view(stage_config(cfg, k), k):
        raise MMCLError(
            f"{path} was written with a different config; resume with the run's own "
            f"{run_dir / 'config.yaml'} (mmcl train --resume {run_dir})"
        )
    method.load_state_dict(payload["method"])


def embed_split(model: ContrastiveModel, split: WorldSplit, batch_size: int = 512) -> np.ndarray:
    """Normalized image embeddings (N, D) of a split without augmentation (the clustering input)."""
    dataset = WorldDataset(split)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            index = list(range(start, min(start + batch_size, len(dataset))))
            images = dataset.__getitems__(index).images.to(device)  # (b, 3, H, W)
            parts.append(model.encode_image(images, normalize=True).float().cpu())  # (b, D)
    model.train(was_training)
    return torch.cat(parts).numpy()


def cluster_stage(
    cfg: RunConfig, runtime: Runtime, model: ContrastiveModel, split: WorldSplit, folder: Path
) -> None:
    """K-means on the stage's embeddings; rank 0 writes clusters.pt, then every rank waits."""
    mcl = cfg.method.mcl
    if runtime.is_main:
        result = kmeans(embed_split(model, split), mcl.clusters, cfg.train.seed, mcl.backend,
                        mcl.kmeans_iters)  # fmt: skip
        payload = {
            "labels": torch.from_numpy(result.labels),
            "centroids": torch.from_numpy(result.centroids),
            "backend": result.backend,
        }
        atomic_write(folder / CLUSTERS_FILE, lambda handle: torch.save(payload, handle))
        log.info("%s: %d clusters (%s)", folder.name, mcl.clusters, result.backend)
    if runtime.world_size > 1:
        dist.barrier()


def _sampler(cfg: RunConfig, runtime: Runtime, groups: np.ndarray | None, seed: int):
    """Cluster-homogeneous batches for `sampler=homogeneous`; else the trainer's shuffled one."""
    if groups is None or cfg.method.mcl.sampler != "homogeneous":
        return None
    return ClusterBatchSampler(
        groups, cfg.train.batch_size, seed, runtime.rank, runtime.world_size,
        cfg.method.mcl.small_groups,
    )  # fmt: skip


def _train_stage(
    cfg: RunConfig, run_dir: Path, runtime: Runtime, k: int, resume: bool, previous: MCL | None
) -> MCL:
    """Train stage k (or load it when finished and resuming) and cluster it; its method."""
    split = load_split(cfg.data, "train")
    info = DataInfo(split.image_size, len(split.class_names))
    groups = stage_groups(cfg, run_dir, k)
    restricted = None if cfg.method.mcl.sampler == "random" else groups
    method = initial_method(cfg, info, restricted)
    folder = stage_dir(run_dir, k)
    if resume and read_clusters(run_dir, k) is not None:
        _load_stage_weights(method, cfg, run_dir, k)
        log.info("stage %d finished earlier: skipped", k)
        return method
    (folder / CLUSTERS_FILE).unlink(missing_ok=True)
    if cfg.method.mcl.warm_start and previous is not None:
        method.model.load_state_dict(previous.model.state_dict())
    scfg = stage_config(cfg, k)
    trainer = Trainer(
        scfg, folder, runtime, method, _sampler(cfg, runtime, groups, scfg.train.seed)
    )
    trainer.resume_dir = run_dir  # a stop signal's "resume with" names the run, not the stage
    if resume:
        trainer.resume()
    if runtime.is_main:
        save_config(scfg, folder / "config.yaml")
    n_groups = "1 group" if restricted is None else f"{int(restricted.max()) + 1} groups"
    log.info("MCL stage %d/%d: %s, sampler %s", k, cfg.method.mcl.stages, n_groups,
             cfg.method.mcl.sampler)  # fmt: skip
    trainer.fit()
    cluster_stage(cfg, runtime, method.model, split, folder)
    return method


def _initial_stage(cfg: RunConfig, run_dir: Path, runtime: Runtime, resume: bool) -> MCL:
    """Stage 0: the initial weights, clustered (the reference's clustering of the base model)."""
    split = load_split(cfg.data, "train")
    method = initial_method(cfg, DataInfo(split.image_size, len(split.class_names))).to(
        runtime.device
    )
    if not (resume and read_clusters(run_dir, 0) is not None):
        cluster_stage(cfg, runtime, method.model, split, stage_dir(run_dir, 0))
    return method


def train_stages(cfg: RunConfig, run_dir: Path, resume: bool = False) -> tuple[Method, Runtime]:
    """Train every MCL stage of `cfg` in `run_dir`; the integrated (concatenated) model."""
    if getattr(cfg.data, "format", "world") != "world":
        raise MMCLError(
            f"method.name=mcl clusters a built-in world's train split between stages; "
            f"data.format={cfg.data.format} is not supported yet: use data.format=world"
        )
    runtime = setup_runtime(cfg.train.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    if runtime.is_main:
        save_config(cfg, run_dir / "config.yaml")
    methods: list[MCL] = []
    if cfg.method.mcl.initial_stage:
        methods.append(_initial_stage(cfg, run_dir, runtime, resume))
    previous = None
    for k in range(1, cfg.method.mcl.stages + 1):
        previous = _train_stage(cfg, run_dir, runtime, k, resume, previous)
        methods.append(previous)
    model = MultiStageModel([m.model for m in methods], cfg.method.mcl.normalize_per_stage)
    return Method(model).to(runtime.device), runtime


def stage_models(cfg: RunConfig, run_dir: Path) -> list[ContrastiveModel]:
    """Every stage's trained model (stage 0 first when `mcl.initial_stage`), on the CPU."""
    split = load_split(cfg.data, "train")
    info = DataInfo(split.image_size, len(split.class_names))
    models = [initial_method(cfg, info).model] if cfg.method.mcl.initial_stage else []
    for k in range(1, cfg.method.mcl.stages + 1):
        if read_clusters(run_dir, k) is None:
            raise MMCLError(
                f"{stage_dir(run_dir, k)} is not finished: mmcl train --resume {run_dir}"
            )
        method = initial_method(cfg, info)
        _load_stage_weights(method, cfg, run_dir, k)
        models.append(method.model)
    return models


def load_stages(cfg: RunConfig, run_dir: Path) -> Method:
    """The integrated model of a finished MCL run (for `mmcl.runs.training.load_trained`)."""
    models = stage_models(cfg, run_dir)
    return Method(MultiStageModel(models, cfg.method.mcl.normalize_per_stage))
