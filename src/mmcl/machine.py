"""A one-line description of the machine a result was measured on, for reports and results."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine_description() -> str:
    """OS, CPU model and cores, torch version and accelerator: enough to compare timings."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.system()} {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {device}"
    )


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; elsewhere what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
