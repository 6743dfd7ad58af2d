"""Zhang et al., "Learning the Unlearned: Mitigating Feature Suppression in Contrastive Learning"

ECCV 2024, arXiv 2402.11816 (MCL, multistage contrastive learning). `mmcl repro mcl2024`: spec
section 5 (mcl2024.md in the shared specs) on the Trifeature-like `shapes` world (or, with
`--set data.world=fashion`, on real Fashion-MNIST photos: `roles`), over seeds:
SimCLR's suppression of shape/texture, stage-1 clusters tracking colour, stage 2 learning the
unlearned, the concatenation, the random-batch and equal-width controls, the latest_only
ablation, and MMVP-style pairs for MCL around CLIP (`runner`, `claims`).
"""

from mmcl.experiments.mcl2024.runner import run

__all__ = ["run"]
