"""Zhang, Wang & Wang, "On the Generalization of Multi-modal Contrastive Learning", ICML 2023.

arXiv 2306.04272; the reproduction of the spec zhang2023.md in the shared specs: closed-form
checks and direction claims on finite worlds (`theory`, `checks`), text-induced vs augmentation
positive pairs (`pairs`), and SimCLR vs CLIP-guided resampling (`resampling`, trained by
`grid`), decided over seeds in `claims`, scaled by `scales`, reported by `report`, run by
`runner.run`.
"""

from mmcl.experiments.zhang2023.runner import run

__all__ = ["run"]
