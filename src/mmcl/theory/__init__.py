"""Closed forms that the papers derive (spectral optimum of MMCL, Xue's linear-model predictions)."""
