"""Settings of MCL (multistage contrastive learning, Zhang et al. 2024): `method.mcl.*`.

The `mcl` method's settings class (`MCL.settings_cls`): a section of its own because MCL names
its base method, sampler and clustering backend.
Defaults follow the spec (mcl2024.md in the shared specs): K = 10 clusters, correct label
accumulation, cluster-homogeneous batches, every stage from the initial weights, raw (not
per-stage normalized) concatenation.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmcl.config import check_choice, check_range

MCL_SAMPLERS = ("homogeneous", "masked", "random")


@dataclass
class MCLConfig:
    # The wrapped contrastive method: a groupable registered method, simclr | clip (checked by
    # `MCL.validate_settings` against the registry).
    base: str = "simclr"
    stages: int = 3  # MCL stages; train.steps is per stage
    clusters: int = 10  # K of the k-means after each stage
    backend: str = "auto"  # k-means: auto (faiss if installed, else sklearn) | faiss | sklearn
    kmeans_iters: int = 100  # Lloyd iterations: the reference max_iter (faiss runs all of them)
    # The reference code's bug as an ablation: groups from the latest stage's clusters only,
    # instead of the product of every earlier stage's clusters.
    latest_only: bool = False
    # homogeneous: each global batch from one group (the paper's sampler). masked: random
    # batches, other-group negatives masked out of the loss. random: no restriction at all
    # (the control "stage 2 on random batches"; the stage differs from stage 1 only in seed).
    sampler: str = "homogeneous"
    small_groups: str = "pool"  # homogeneous: pool (mixed, masked batches) | drop (reference)
    warm_start: bool = False  # stage k starts from stage k-1's weights instead of the initial ones
    normalize_per_stage: bool = False  # L2-normalize each stage's embedding before concatenating
    # Treat the initial weights as stage 0 (the reference CLIP recipe with model.pretrained): its
    # clusters group stage 1 and it joins the concatenation. Off: stage 1 is the plain base method.
    initial_stage: bool = False

    def validate(self) -> None:
        check_choice("method.mcl.sampler", self.sampler, MCL_SAMPLERS)
        check_choice("method.mcl.small_groups", self.small_groups, ("pool", "drop"))
        check_choice("method.mcl.backend", self.backend, ("auto", "faiss", "sklearn"))
        check_range("method.mcl.stages", self.stages, 1, 20)
        check_range("method.mcl.clusters", self.clusters, 2, 100_000)
        check_range("method.mcl.kmeans_iters", self.kmeans_iters, 1)
