"""mmcl: a lab for contrastive representation learning (CLIP- and SimCLR-style).

The importable library (data, models, losses, methods, eval, theory) is kept apart from the
trainer (`mmcl.train`) and the command line (`mmcl.cli`), as open_clip keeps `open_clip` apart
from `open_clip_train`.
"""

__version__ = "0.1.0"
