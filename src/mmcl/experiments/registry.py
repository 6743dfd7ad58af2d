"""The papers `mmcl repro` knows, and the one signature every paper's runner has.

Each paper is a package under `mmcl.experiments` whose `run` function is

    run(scale: str, seeds: int | None, out_dir: Path, overrides: Sequence[str] = ()) -> dict

`scale` is one of `SCALES`; `seeds=None` means the scale's own seeds, N means seeds 0..N-1;
`overrides` are run-config `key=value` strings for the paper's training runs (`mmcl repro --set`).
It writes `results.json`, `claims.json` and `report.html` under `out_dir` and returns
{"meta", "records", "claims", "checks", "note"}: `claims` are `mmcl.stats.Claim.decide` rows
passed, all together, through `mmcl.verdicts.decide_families` (the family verdict beside the raw
one, margin, p-value, precondition, and for undecided claims `seeds_needed` and `why`); `checks`
are `mmcl.stats.Check.result` rows. The registry holds
module names, so listing the papers imports none of them.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError
from mmcl.registry import Registry, unknown_name_message
from mmcl.verdicts import row_problems, seeds_for_follow_up, two_looks

log = logging.getLogger(__name__)

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
    problems = row_problems(result["claims"])
    if problems:  # every paper decides its claims as families (mmcl.verdicts) before writing
        raise RuntimeError(f"paper {name}: " + "; ".join(problems))
    return result


def run_paper_auto(
    name: str, scale: str, out_dir: Path, budget_s: float, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """`mmcl repro PAPER --seeds auto --budget T`: a pilot at the scale's seeds, then, if claims
    remain undecided, one follow-up with as many seeds as they ask for (`seeds_needed` at the
    pilot) and the budget affords, seeds 0..N-1 (the pilot's runs are reused from the cache).
    Both looks are decided at alpha / 2 (`mmcl.verdicts.two_looks`), so the family-wise error
    over the two stays at or below alpha. The result gains `looks`: each look's seeds and time.
    """
    start = time.perf_counter()
    pilot = run_paper(name, scale, None, out_dir, overrides)
    pilot_seconds = time.perf_counter() - start
    n_pilot = max(c["n_seeds"] for c in pilot["claims"])
    looks: dict[str, Any] = {"pilot": {"seeds": n_pilot, "seconds": round(pilot_seconds, 1)}}
    result = pilot

    def follow_up(decided: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        nonlocal result
        per_seed = pilot_seconds / n_pilot
        affordable = n_pilot + int(max(0.0, budget_s - pilot_seconds) // max(per_seed, 1e-9))
        n = seeds_for_follow_up(decided, affordable)
        looks["follow_up"] = {"seeds": n, "asked": seeds_for_follow_up(decided, 10**6),
                              "affordable": affordable}  # fmt: skip
        if n <= n_pilot:
            asked = looks["follow_up"]["asked"]
            log.info("repro %s: no follow-up (undecided claims ask %s seeds, budget affords %d)",
                     name, asked, affordable)  # fmt: skip
            return None
        log.info("repro %s: follow-up with %d seeds (pilot %d)", name, n, n_pilot)
        begin = time.perf_counter()
        result = run_paper(name, scale, n, out_dir, overrides)
        looks["follow_up"]["seconds"] = round(time.perf_counter() - begin, 1)
        return result["claims"]

    final, _ = two_looks(pilot["claims"], follow_up)
    return {**result, "claims": final, "looks": looks}
