"""Fang et al. 2022, "Data Determines Distributional Robustness in CLIP", ICML 2022.

arXiv 2205.01397. `mmcl repro fang2022`: the five candidate causes of CLIP's effective
robustness (size, distribution, language at train and test time, loss), rerun on the `shapes`
world, or on `fashion` (real Fashion-MNIST photos) with `--set data.world=fashion` (`runner`).
"""

from mmcl.experiments.fang2022.runner import run

__all__ = ["run"]
