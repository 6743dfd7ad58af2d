"""`python -m mmcl ...`, which is what `torchrun -m mmcl train ...` runs on every process."""

import sys

from mmcl.cli import main

sys.exit(main())
