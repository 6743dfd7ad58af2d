"""`python bench/vs_open_clip.py` without the `[bench]` extra says in one line what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "vs_open_clip.py"

# Run the bench as a script with pandas hidden, as in an environment made by the README's
# `pip install -e ".[test]"` (which does not install it).
WITHOUT_PANDAS = f"""
import runpy, sys
sys.modules["pandas"] = None
sys.argv = [{str(BENCH)!r}]
runpy.run_path({str(BENCH)!r}, run_name="__main__")
"""


def test_missing_bench_extra_is_one_line_naming_the_install_command():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PANDAS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert 'pip install -e ".[bench]"' in lines[0]
    assert "pandas" in lines[0]
