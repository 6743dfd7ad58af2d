"""Methods: model + loss behind `training_forward(batch) -> dict of losses and metrics`."""

from mmcl.methods import clip, simclr, supervised  # noqa: F401  (register the methods)
from mmcl.methods.base import METHODS, DataInfo, Method, MethodConfig, build_method, total_loss

__all__ = ["METHODS", "DataInfo", "Method", "MethodConfig", "build_method", "total_loss"]
