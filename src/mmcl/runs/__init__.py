"""Runs: the one door every training goes through, and where it is opened.

`door` takes a resolved run config and gives its trained model or its scored records, cached by
config hash (trained, resumed or reused); `training` and `scoring` are its two halves (train or
load a run folder; score a model on the run's data); `pretrained` scores models nobody trained
here; `teachers` registers the teacher that is itself a trained run; `executors` decide where
many runs are opened (local processes, Ray, Slurm).
"""

from mmcl.runs import teachers  # noqa: F401  (registers the clip_run teacher)
