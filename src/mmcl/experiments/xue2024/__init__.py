"""Xue, Joshi, Nguyen, Mirzasoleiman 2024 (ICLR, arXiv 2310.04971): MMCL's robustness to shift.

"Understanding the Robustness of Multi-modal Contrastive Learning to Distribution Shift".

`mmcl repro xue2024`: linear MMCL learners against supervised learning on the spec's RECON vector
model (`vector`, `learners`), CLIP against a supervised head on the shapes world or on real
captions (`images`), the claims with rules fixed in advance (`claims`), the closed-form checks
(`checks`), the size presets (`scales`), the report (`report`), and `run` (`runner`).
"""

from mmcl.experiments.xue2024.runner import run

__all__ = ["run"]
