"""SimCLR with CLIP-guided resampling (Zhang, Wang & Wang, ICML 2023, arXiv 2306.04272).

The paper's practical result: a trained CLIP's image tower, applied to the same augmented views,
chooses better positives for SimCLR (AddNewPositive: +6.2 points on ImageNet-100) while dropping
negatives changes little (spec zhang2023.md in the shared specs 2-3). Its settings are its own
section, `method.resampling` (`settings_cls`, `mmcl.resampling.ResamplingConfig`): the teacher
and four ratios; all ratios 0 is plain SimCLR.

Two sources of the extra positive:
- `neighbours=batch` (the paper): the teacher's nearest view in the global batch, chosen afresh
  every step from teacher features gathered across processes.
- `neighbours=index`: the nearest neighbours in the whole training set, from an index built once
  when the trainer asks for the dataset (`training_dataset`: the teacher embeds every clean
  training image, `mmcl.nn_index` finds the neighbours, timed as `index_seconds`), one drawn
  per step by `PartnerViewDataset(mode="append")`. It needs the world's images in memory, so a
  run on files is refused at config validation (`check_run`).

The teacher is loaded on the first training step (or by the index), so evaluating a finished run
never needs it.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from mmcl.data.batch import Batch
from mmcl.data.world_dataset import normalize
from mmcl.data.worlds.base import WorldSplit
from mmcl.distributed import all_gather_no_grad
from mmcl.errors import MMCLError
from mmcl.losses.resampled import ResampledMasks, neighbour_ntxent, resampled_ntxent
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig
from mmcl.methods.partner_views import PARTNER_KEY, PARTNER_LABEL_KEY, PartnerViewDataset
from mmcl.methods.teachers import Teacher, build_teacher
from mmcl.models.model import ContrastiveModel, ModelConfig, build_model
from mmcl.nn_index import Neighbours, build_neighbours
from mmcl.resampling import ResamplingConfig

EMBED_CHUNK = 512  # images per teacher forward when indexing the train set


@METHODS.register("resampled_simclr")
class ResampledSimCLR(Method):
    n_views = 2
    settings_cls, settings_key = ResamplingConfig, "resampling"  # method.resampling.*

    def __init__(
        self,
        model: ContrastiveModel,
        temperature: float,
        resampling: ResamplingConfig,
        num_classes: int,
        teacher: Teacher | None = None,
    ) -> None:
        super().__init__(model)
        self.temperature = temperature
        self.resampling = resampling
        self.num_classes = num_classes
        self._teacher = teacher  # plain attribute: never in state_dict, optimizer or DDP
        # neighbours=index: set by `training_dataset` (the index, and the seconds it took)
        self.neighbours: Neighbours | None = None
        self.index_seconds = 0.0
        if resampling.neighbours == "index":
            self.n_views = 3

    @classmethod
    def build(cls, cfg: MethodConfig, model_cfg: ModelConfig, info: DataInfo) -> ResampledSimCLR:
        head_cfg = ModelConfig(**{**model_cfg.__dict__, "projection": "mlp"})  # as SimCLR
        model = build_model(head_cfg, info.image_size, with_text=False)
        return cls(model, cfg.temperature, cfg.resampling, info.num_classes)

    @classmethod
    def check_run(cls, cfg: Any) -> None:
        if cfg.method.resampling.neighbours == "index" and cfg.data.format != "world":
            raise MMCLError(
                f"method.resampling.neighbours=index indexes the rendered world's training images"
                f" in memory; data.format={cfg.data.format} is read from files: use "
                "method.resampling.neighbours=batch, or data.format=world"
            )

    def training_dataset(self, cfg: Any, source: Any, default: Any) -> Any:
        """neighbours=index: the teacher's k nearest neighbours of every training image (built
        now, timed in `index_seconds`), one drawn per sample and step as a third view."""
        if self.resampling.neighbours != "index":
            return default
        start = time.perf_counter()
        features = embed_split(self.teacher, source)  # (N, Dt)
        self.neighbours = build_neighbours(features, self.resampling.index_k)
        self.index_seconds = time.perf_counter() - start
        return PartnerViewDataset(source, self.neighbours.indices, "append", cfg.method.augment)

    @property
    def teacher(self) -> Teacher:
        if self._teacher is None:
            self._teacher = build_teacher(self.resampling, self.num_classes)
        return self._teacher

    def training_forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        views = batch.views  # (B, V, 3, H, W)
        if views is None or views.shape[1] != self.n_views:
            raise MMCLError(f"resampled_simclr needs {self.n_views} views per sample (Batch.views)")
        b = len(views)
        z = self.model.encode_image(views.flatten(0, 1), normalize=False).unflatten(0, (b, -1))
        if self.resampling.neighbours == "index":
            return self._index_forward(batch, z)
        c1 = c2 = None
        if self.resampling.batch_ratios_used:
            labels = batch.labels.repeat_interleave(2)  # (2B,) sample-major like the views
            c = self.teacher.embed(views.flatten(0, 1), labels).unflatten(0, (b, 2))  # (B, 2, Dt)
            c1, c2 = c[:, 0], c[:, 1]
        loss, masks, own = resampled_ntxent(
            z[:, 0], z[:, 1], c1, c2, self.resampling, self.temperature
        )
        return {"resampled_ntxent_loss": loss, **self._diagnostics(batch, masks, own)}

    def _index_forward(self, batch: Batch, z: torch.Tensor) -> dict[str, torch.Tensor]:
        if PARTNER_KEY not in batch.attributes:
            raise MMCLError(
                "method.resampling.neighbours=index: the third view must be a dataset neighbour, "
                "from the PartnerViewDataset this method's training_dataset builds (the trainer "
                "asks for it); these batches came from another dataset"
            )
        loss = neighbour_ntxent(z[:, 0], z[:, 1], z[:, 2], self.temperature)
        same = (batch.labels == batch.attributes[PARTNER_LABEL_KEY]).float().mean()
        return {"resampled_ntxent_loss": loss, "new_positive_same_class": same.detach()}

    def _diagnostics(
        self, batch: Batch, masks: ResampledMasks, own: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Logged scalars: the share of new positives that share the anchor's class."""
        if self.resampling.new_positive_ratio <= 0:
            return {}
        labels = batch.labels.repeat(2)  # (2B,) anchor order [views 1; views 2]
        all_labels = _gather_labels(labels, len(masks.new_positive))
        q = masks.new_positive[own]  # (2B,)
        has = q >= 0
        same = (all_labels[q.clamp(min=0)] == labels) & has
        rate = same.sum().float() / has.sum().clamp(min=1).float()
        return {"new_positive_same_class": rate.detach()}


def embed_split(teacher: Teacher, split: WorldSplit) -> torch.Tensor:
    """(N, D) teacher features of every clean (un-augmented) training image."""
    parts = []
    for start in range(0, len(split), EMBED_CHUNK):
        images = normalize(split.images[start : start + EMBED_CHUNK])  # (c, 3, H, W)
        parts.append(teacher.embed(images, split.labels[start : start + EMBED_CHUNK]))
    return torch.cat(parts)


def _gather_labels(local: torch.Tensor, n_global: int) -> torch.Tensor:
    """(2B,) local labels [views 1; views 2] -> (2N,) global key order [views 1; views 2]."""
    b = len(local) // 2
    first, second = all_gather_no_grad(local[:b]), all_gather_no_grad(local[b:])
    out = torch.cat([first, second])
    if len(out) != n_global:
        raise MMCLError("resampled_simclr: label gather does not match the global batch")
    return out
