"""SimCLR with text-induced positives (Zhang, Wang & Wang, ICML 2023, arXiv 2306.04272, spec 1.3).

The paper reads multimodal contrastive learning as SSCL on pseudo-positive pairs that share a
text. This method trains exactly that: SimCLR's NT-Xent, loss and model unchanged, whose positive
view is not a second augmentation of the anchor but an augmentation of another image with the
identical caption (itself when its caption is unique): views [aug(i), aug(partner(i))] from
`PartnerViewDataset(mode="replace")`, one partner drawn per sample and step among the caption
group (`caption_partners`, at most `MAX_PARTNERS` kept per image, chosen with `train.seed`).

It reads the world's images and captions in memory, so a run on files is refused at config
validation. Its settings are SimCLR's shared ones (`method.temperature`, `method.augment`).
"""

from __future__ import annotations

from typing import Any

from mmcl.errors import MMCLError
from mmcl.methods.base import METHODS
from mmcl.methods.partner_views import PartnerViewDataset, caption_partners
from mmcl.methods.simclr import SimCLR


@METHODS.register("text_simclr")
class TextSimCLR(SimCLR):
    """SimCLR whose positive is another image with the identical caption."""

    @classmethod
    def check_run(cls, cfg: Any) -> None:
        if cfg.data.format != "world":
            raise MMCLError(
                f"method.name={cfg.method.name} pairs the rendered world's images by caption in "
                f"memory; data.format={cfg.data.format} is read from files: use data.format=world"
            )

    def training_dataset(self, cfg: Any, source: Any, default: Any) -> PartnerViewDataset:
        partners = caption_partners(source.captions, seed=cfg.train.seed)  # (N, K)
        return PartnerViewDataset(source, partners, "replace", cfg.method.augment)
