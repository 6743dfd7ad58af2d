"""A plugin as a researcher would write one: a world, a method and an eval task, each added by
registering one object, with no change to mmcl. Loaded through MMCL_PLUGINS by the tests."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmcl.data.worlds import WORLDS, World, WorldSplit
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.methods.base import METHODS
from mmcl.methods.clip import CLIP

CLASSES = ["dark", "light"]


@dataclass
class ToyConfig:
    n: int = 96
    seed: int = 0

    def validate(self) -> None:
        if self.n < 2:
            raise ValueError("ToyConfig.n must be >= 2")


def build_toy(cfg: ToyConfig, split: str, images: torch.Tensor | None = None) -> WorldSplit:
    """Dark or light squares with noise: the class is the brightness."""
    g = torch.Generator().manual_seed(cfg.seed * 2 + (split == "test"))
    labels = torch.randint(0, 2, (cfg.n,), generator=g)
    noise = torch.randint(0, 40, (cfg.n, 3, 32, 32), generator=g)
    pixels = (60 + 120 * labels[:, None, None, None] + noise).to(torch.uint8)
    return WorldSplit(
        name=split,
        images=pixels if images is None else images,
        labels=labels,
        attributes={},
        attribute_values={},
        captions=[f"a {CLASSES[int(y)]} square" for y in labels],
        class_names=list(CLASSES),
        prompt_templates=["a {} square"],
    )


WORLDS.register("toy")(
    World("toy", ToyConfig, {"train": "training squares", "test": "held-out squares"}, build_toy)
)


@METHODS.register("toy_clip")
class ToyCLIP(CLIP):
    """CLIP whose logged metrics also carry the batch's share of light squares."""

    def training_forward(self, batch, groups=None):
        outputs = super().training_forward(batch, groups)
        outputs["light_share"] = batch.labels.float().mean()
        return outputs


@eval_task("mean_norm")
def score_mean_norm(ctx: EvalContext) -> Records:
    """The mean L2 norm of each split's backbone features."""
    return [
        ctx.record("mean_norm", name, "norm", float(fs.features.norm(dim=1).mean()))
        for name, fs in ctx.tests.items()
    ]
