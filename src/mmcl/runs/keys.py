"""What names a run: `train_key` (what it learns: the key of its finished training) and
`run_key` (what it is and how it is scored: the key of its results), both config hashes.

The door (`mmcl.runs.door`) reuses a training or a results file only under its key, and every
results file carries its `run_key` (`mmcl.runs.scoring.results_meta`), so a run scored by
`mmcl eval` is read back by the door like one it scored itself.
"""

from __future__ import annotations

import copy

from mmcl.config import config_hash
from mmcl.train.config import RunConfig

# Train settings that change how a run is watched, never what it learns (checkpoints, logs and
# a tracker's mirror are written without touching the RNG; evaluation during training runs
# under a forked one).
WATCHING = ("progress", "log_every", "checkpoint_every", "keep_checkpoints", "logger")


def run_key(cfg: RunConfig) -> str:
    """The hash of what a run is and how it is scored: its config without its name, folder,
    progress bar and tracker (the key of its `results.json`)."""
    plain = copy.deepcopy(cfg)
    plain.name, plain.out_dir, plain.train.progress = "", "", False
    plain.train.logger = type(cfg.train)().logger  # a mirror of the scores, not how they are made
    return config_hash(plain)


def train_key(cfg: RunConfig) -> str:
    """The hash of what a run learns (the key of its `trained.json`): `run_key` without the
    evaluation settings and the `WATCHING` fields, so scoring it otherwise or keeping more
    checkpoints reuses the training."""
    plain = copy.deepcopy(cfg)
    plain.name, plain.out_dir = "", ""
    plain.eval = type(cfg.eval)()
    for name in WATCHING:
        setattr(plain.train, name, getattr(type(cfg.train)(), name))
    return config_hash(plain)
