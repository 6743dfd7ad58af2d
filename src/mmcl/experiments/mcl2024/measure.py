"""mcl2024 trainings and measurements of one seed, as two jobs that can run side by side.

`simclr_job` trains the SimCLR runs that share stage models (MCL, its latest_only stage 3, the
random-batch control) and measures their probes and cluster NMIs; `clip_job` trains the
equal-width SimCLR baseline and MCL around CLIP and measures the probes and the MMVP-style pairs.
Each returns plain per-seed numbers (JSON-ready): merged, they are the raw input of `claims`.

Probes: one linear probe per attribute on backbone features, fitted on the first half of the
world's independent `balanced` split and scored on the second half (`n_probe_test` samples). Each
job returns every probe's accuracy (`probes`) and its per-sample correctness (`correct`, packed
one bit a sample by `mmcl.eval.tasks.pack_correct`: 1000 samples in 168 characters), so two
probes scored on the same samples get a paired error and S1/S4 can name an arm on one half of
the scored samples and measure on the other (`claims`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

from mmcl.data.sources import load_split
from mmcl.data.world_dataset import WorldDataset
from mmcl.data.worlds import WorldSplit
from mmcl.eval import mmvp
from mmcl.eval.features import FeatureSet, concatenate_features, extract_features
from mmcl.eval.linear_probe import fit_linear_probe, probe_correct
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.mcl2024.roles import roles_for
from mmcl.experiments.mcl2024.scales import Scale, run_configs
from mmcl.models.multistage import MultiStageModel
from mmcl.models.tokenizer import tokenizer_for
from mmcl.runs import door
from mmcl.threads import torch_threads
from mmcl.train.config import RunConfig
from mmcl.train.stages import read_clusters, stage_dir, stage_models

log = logging.getLogger(__name__)

SHARED_STAGES = (1, 2)  # stages the latest_only run takes from the accumulated one


def seed_dir(out_dir: Path, seed: int) -> Path:
    return Path(out_dir) / f"seed_{seed}"


def split_features(model: torch.nn.Module, split: WorldSplit, batch_size: int = 500) -> FeatureSet:
    """Backbone features of every sample of `split`, in order (the probes' input)."""
    dataset = WorldDataset(split)
    chunks = [
        list(range(i, min(i + batch_size, len(split)))) for i in range(0, len(split), batch_size)
    ]
    return extract_features(model, (dataset.__getitems__(c) for c in chunks), kind="backbone")


def probed(cfg: RunConfig) -> tuple[str, ...]:
    """The attributes every model is probed on in the run's world (`roles.Roles.probed`)."""
    return roles_for(cfg.data.world_config()).probed


def probe_correctness(features: FeatureSet, attributes: Sequence[str]) -> dict[str, np.ndarray]:
    """{attribute: per-sample correctness on the second half} of a probe fitted on the first.

    The probe of `mmcl.eval.attributes` (default `ProbeConfig`), kept per sample: an attribute
    constant in the fitting half has no probe and no entry, as there.
    """
    first = torch.arange(len(features)) < len(features) // 2
    fit, score = features.subset(first), features.subset(~first)
    out = {}
    for a in attributes:
        if a not in fit.attributes or torch.unique(fit.attributes[a]).numel() < 2:
            continue
        probe = fit_linear_probe(fit.features, fit.attributes[a])
        out[a] = probe_correct(probe, score.features, score.attributes[a])
    return out


def scored(correct: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """{"probes": {model: {attribute: accuracy}}, "correct": the same, packed per sample}."""
    return {
        "probes": {m: {a: float(np.mean(c)) for a, c in by.items()} for m, by in correct.items()},
        "correct": {m: {a: pack_correct(c) for a, c in by.items()} for m, by in correct.items()},
    }


def cluster_nmi(
    split: WorldSplit, labels: np.ndarray, attributes: Sequence[str]
) -> dict[str, float]:
    """NMI between cluster labels of the train split and each attribute it shows."""
    return {
        a: float(normalized_mutual_info_score(split.attributes[a].numpy(), labels))
        for a in attributes
        if a in split.attributes
    }


def _train_latest_only(cfg: RunConfig, accumulated: Path, run_dir: Path) -> None:
    """The latest_only run: stages 1-2 copied from the accumulated run, stage 3 onwards trained."""
    for k in SHARED_STAGES:
        target = stage_dir(run_dir, k)
        if not target.is_dir():
            shutil.copytree(stage_dir(accumulated, k), target, symlinks=True)
    # a folder left by another config is replaced, its stages trained here (same seed, same
    # stage settings: the same weights as the copies)
    door.trained(cfg, run_dir, replace=True)


def _simclr_probes(
    cfgs: dict[str, RunConfig], folder: Path, control: torch.nn.Module, data: WorldSplit
) -> dict[str, dict[str, np.ndarray]]:
    """Probes of every stage, latest_only's stage 3, the concatenations and the control's."""
    stages = stage_models(cfgs["simclr-mcl"], folder / "simclr-mcl")
    latest = stage_models(cfgs["simclr-mcl-latest"], folder / "simclr-mcl-latest")
    on = probed(cfgs["simclr-mcl"])
    features = [split_features(m, data) for m in stages]
    probes = {f"stage{k + 1}": probe_correctness(f, on) for k, f in enumerate(features)}
    probes["stage3_latest_only"] = probe_correctness(split_features(latest[2], data), on)
    probes["concat"] = probe_correctness(concatenate_features(features), on)
    probes["concat_2"] = probe_correctness(concatenate_features(features[:2]), on)
    probes["control_concat"] = probe_correctness(
        concatenate_features([features[0], split_features(control, data)]), on
    )
    return probes


def _nmis(cfgs: dict[str, RunConfig], folder: Path) -> dict[str, dict[str, float]]:
    """NMI of every stage's clusters (and latest_only's stage 3) with every attribute."""
    cfg = cfgs["simclr-mcl"]
    split, on = load_split(cfg.data, "train"), probed(cfg)
    nmi = {
        f"stage{k}_clusters": cluster_nmi(split, read_clusters(folder / "simclr-mcl", k), on)
        for k in range(1, cfg.method.mcl.stages + 1)
    }
    nmi["stage3_latest_only_clusters"] = cluster_nmi(
        split, read_clusters(folder / "simclr-mcl-latest", 3), on
    )
    return nmi


def simclr_job(
    sc: Scale, seed: int, out_dir: Path, overrides: tuple[str, ...], threads: int
) -> dict[str, Any]:
    """Train MCL-SimCLR, its latest_only stage 3 and the control; their probes and NMIs."""
    folder = seed_dir(out_dir, seed)
    cfgs = run_configs(sc, seed, folder, overrides)
    with torch_threads(threads):
        door.trained(cfgs["simclr-mcl"], folder / "simclr-mcl", replace=True)
        _train_latest_only(
            cfgs["simclr-mcl-latest"], folder / "simclr-mcl", folder / "simclr-mcl-latest"
        )
        control = door.trained(cfgs["simclr-control"], folder / "simclr-control", replace=True)
        control = control.method
        data = load_split(cfgs["simclr-mcl"].data, "balanced")
        probes = _simclr_probes(cfgs, folder, control.model, data)
        nmi = _nmis(cfgs, folder)
    n_probe_test = len(data) - len(data) // 2
    return {"seed": seed, "n_probe_test": n_probe_test, **scored(probes), "nmi": nmi}


def _mmvp(cfg: RunConfig, folder: Path, n_pairs: int) -> dict[str, Any]:
    """Per-pair correctness (bool lists per attribute) of CLIP, MCL-CLIP and CLIP twice."""
    stages = stage_models(cfg, folder / "clip-mcl")
    pairs = mmvp.world_pairs(cfg.data.world_config(), n_pairs, seed=cfg.data.shapes.seed + 1)
    tokenizer = tokenizer_for(cfg.model)
    normalize = cfg.method.mcl.normalize_per_stage
    models = {
        "clip": stages[0],
        "mcl_clip": MultiStageModel(stages, normalize),
        "clip_twice": MultiStageModel([stages[0], stages[0]], normalize),
    }
    patterns = np.asarray(pairs.patterns)
    out: dict[str, Any] = {}
    for name, model in models.items():
        correct = mmvp.model_pair_correct(model, pairs, tokenizer).numpy()
        out[name] = {a: correct[patterns == a].tolist() for a in dict.fromkeys(pairs.patterns)}
    return out


def clip_job(
    sc: Scale, seed: int, out_dir: Path, overrides: tuple[str, ...], threads: int
) -> dict[str, Any]:
    """Train the equal-width SimCLR and MCL-CLIP; their probes (plain CLIP's, MCL-CLIP's stages
    concatenated) and the MMVP-style pairs."""
    folder = seed_dir(out_dir, seed)
    cfgs = run_configs(sc, seed, folder, overrides)
    with torch_threads(threads):
        wide = door.trained(cfgs["simclr-wide"], folder / "simclr-wide", replace=True).method
        door.trained(cfgs["clip-mcl"], folder / "clip-mcl", replace=True)
        data = load_split(cfgs["simclr-wide"].data, "balanced")
        clip = [
            split_features(m, data) for m in stage_models(cfgs["clip-mcl"], folder / "clip-mcl")
        ]
        on = probed(cfgs["simclr-wide"])
        probes = {
            "wide": probe_correctness(split_features(wide.model, data), on),
            "clip": probe_correctness(clip[0], on),
            "mcl_clip": probe_correctness(concatenate_features(clip), on),  # M1/M2's precondition
        }
        pairs = _mmvp(cfgs["clip-mcl"], folder, sc.mmvp_pairs)
    return {"seed": seed, **scored(probes), "mmvp": pairs}
