"""Run under torchrun: one epoch of a webdataset Trainer per rank; rank 0 writes every index."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist

from mmcl.config import load_config
from mmcl.train.config import RunConfig
from mmcl.train.distributed import setup_runtime, teardown_runtime
from mmcl.train.trainer import Trainer


def main(config: str, out: str) -> None:
    cfg = load_config(RunConfig, config)
    runtime = setup_runtime("cpu")
    trainer = Trainer(cfg, Path(out).parent, runtime)
    epochs = []
    for epoch in range(2):
        trainer.state.epoch, trainer.state.batch_in_epoch = epoch, 0
        mine = [i for batch in trainer._epoch_loader() for i in batch.index.tolist()]
        gathered: list = [None] * runtime.world_size
        dist.all_gather_object(gathered, mine)
        epochs.append(gathered)
    if runtime.is_main:
        Path(out).write_text(json.dumps({"epochs": epochs, "steps": len(trainer.sampler)}))
    teardown_runtime()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
