"""One rank of the two-process check in test_streamed_features.py: its share of a streamed
ImageFolder split's features, gathered to every rank.

Run as `python -m torch.distributed.run --nproc-per-node 2 streamed_worker.py FOLDER OUT_DIR`;
rank r joins the group as `mmcl eval` does (`setup_runtime`) and writes `OUT_DIR/rank{r}.pt`:
the gathered features, labels and rows, how many images this rank decoded, and the bad-sample
tally. The test imports `extract` to compute the single-process reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from mmcl.data import record_images
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.readers import read_records
from mmcl.data.record_dataset import lazy_records_split
from mmcl.distributed import Shards
from mmcl.eval.features import FeatureSet
from mmcl.eval.split_features import Loading, split_features
from mmcl.train.distributed import setup_runtime, teardown_runtime

IMAGE_SIZE = 4  # images are decoded down to 4 px: the model is a linear map of 48 pixels
BATCH = 2
MAX_BAD_FRACTION = 0.5


class LinearTower(nn.Module):
    """backbone_features = a fixed linear map of the flattened pixels."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Linear(3 * IMAGE_SIZE * IMAGE_SIZE, 8)

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images.flatten(1))  # (B, 8)


def extract(folder: Path, shards: Shards) -> tuple[FeatureSet, int, BadDataLog]:
    """The split's gathered features, the images this process decoded, and the bad tally."""
    decoded = []
    decode = record_images.decode_image

    def counting_decode(source, size):
        decoded.append(source)
        return decode(source, size)

    record_images.decode_image = counting_decode
    try:
        records = read_records("imagefolder", folder)
        split = lazy_records_split(records, IMAGE_SIZE, "val", ["a photo of a {}."])
        bad = BadDataLog(MAX_BAD_FRACTION, what="evaluation data")
        loading = Loading(BATCH, 0, shards, bad)
        features = split_features(LinearTower(), split, None, len(split), loading)
    finally:
        record_images.decode_image = decode
    return features, len(decoded), bad


def main(folder: Path, out_dir: Path) -> None:
    torch.set_num_threads(1)
    runtime = setup_runtime("cpu")
    try:
        fs, decoded, bad = extract(folder, Shards.across_ranks())
        result = {"features": fs.features, "labels": fs.labels, "index": fs.index}
        result |= {"decoded": decoded, "world": runtime.world_size, "bad": bad.state_dict()}
        torch.save(result, out_dir / f"rank{runtime.rank}.pt")
    finally:
        teardown_runtime()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
