"""Closed forms that the papers derive (MMCL spectral optimum, Xue's linear-model predictions)."""
