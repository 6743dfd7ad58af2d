"""Methods: model + loss behind `training_forward(batch) -> dict of losses and metrics`."""

from mmcl.methods import (  # noqa: F401  (register the methods)
    clip,
    mcl,
    resampled_simclr,
    simclr,
    supervised,
    text_simclr,
)
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig, build_method, total_loss

__all__ = ["METHODS", "DataInfo", "Method", "MethodConfig", "build_method", "total_loss"]
