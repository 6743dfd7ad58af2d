"""The papers `mmcl repro` knows, and the one signature every paper's runner has.

Each paper is a package under `mmcl.experiments` whose `run` function is

    run(scale: str, seeds: int | None, out_dir: Path, overrides: Sequence[str] = ()) -> dict

`scale` is one of `SCALES`; `seeds=None` means the scale's own seeds, N means seeds 0..N-1;
`overrides` are run-config `key=value` strings for the paper's training runs (`mmcl repro --set`).
It writes `results.json`, `claims.json` and `report.html` under `out_dir` and returns
{"meta", "records", "claims", "checks", "note"}: `claims` are `mmcl.stats.Claim.decide` rows
(verdict, interval, n_seeds, rule), `checks` are `mmcl.stats.Check.result` rows. The registry holds
module names, so listing the papers imports none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError
from mmcl.registry import Registry, unknown_name_message

SCALES = ("tiny", "small", "paper")
RESULT_KEYS = ("meta", "records", "claims", "checks", "note")
RunFn = Callable[..., dict[str, Any]]

PAPERS: Registry[str] = Registry("paper")
for _name in ("xue2024", "fang2022", "mcl2024", "zhang2023"):
    PAPERS.register(_name)(f"mmcl.experiments.{_name}")


def paper_runner(name: str) -> RunFn:
    """The paper's `run` function, or an MMCLError naming the nearest paper."""
    if name not in PAPERS:
        raise MMCLError(unknown_name_message("paper", name, PAPERS.names()))
    return importlib.import_module(PAPERS.get(name)).run


def seed_list(seeds: int | None, default: Sequence[int]) -> tuple[int, ...]:
    """`--seeds N` -> (0, ..., N-1); None -> the scale's default seeds."""
    if seeds is None:
        return tuple(default)
    if seeds < 1:
        raise MMCLError(f"--seeds {seeds}: give a number of seeds >= 1")
    return tuple(range(seeds))


def run_paper(
    name: str, scale: str, seeds: int | None, out_dir: Path, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Run one paper and check that its result has the shared shape."""
    if scale not in SCALES:
        raise MMCLError(f"--scale {scale!r}: choose one of {', '.join(SCALES)}")
    result = paper_runner(name)(scale, seeds, Path(out_dir), tuple(overrides))
    missing = [key for key in RESULT_KEYS if key not in result]
    if missing:
        raise RuntimeError(f"paper {name} returned no {', '.join(missing)}")
    return result
