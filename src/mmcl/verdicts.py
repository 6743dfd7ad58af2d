"""A paper's claims decided together: Holm's step-down per family, why a claim is undecided, and
how many seeds it would need.

`mmcl.stats.Claim.decide` gives each claim its own (raw) verdict: its 95% interval against its
rule, i.e. p < 0.05 on the side the estimate leans to. A paper decides tens of claims, so with
raw verdicts alone some would come out "held" or "not held" by chance. `decide_families` applies
Holm's step-down to each family (the paper, or the named families its claims give): the claims
are taken in order of p-value, the i-th (from 0) is decided if p <= alpha / (m - i) and so were
all before it, and the rest stay inconclusive. This keeps the chance of any false "held" or "not
held" in a family at or below alpha whatever the dependence between claims. The raw verdict stays
beside the family one.

An undecided claim says why (`why`) and what it would take (`seeds_needed`):
- its precondition failed (the run did not learn what the claim is about): "not answerable here",
  and no seed count is named (`NOT_BY_SEEDS`): more seeds of a regime that cannot answer the
  question answer nothing;
- its figure is exact (no spread, no test term): a check, not a finding;
- else the seeds at which its interval, at the level the next Holm step needs, would clear the
  boundary it leans towards if the per-seed spread and the point estimate stayed as measured, or
  "never" when no seed count can: the estimate sits on the boundary, or (shared test set) the
  test term alone is wider than the distance, and then the test samples it would need. A row
  whose figure seeds cannot move (a line fitted over one testbed) says what would instead, in
  its own `needs_instead` text, which the family step keeps.

`two_looks` runs a pilot and a follow-up at alpha / 2 each (`mmcl repro --seeds auto`): a claim
decided at the pilot keeps that verdict, the rest are decided on all seeds at the follow-up. By
the union bound the family-wise error over both looks stays at or below alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from mmcl.stats import ALPHA, FAILED, HELD, INCONCLUSIVE, NOT_HELD, SHARED, t_quantile, welch_df

MAX_SEEDS = 1000  # past this, "more than 1000" is all a researcher needs to know
NOT_BY_SEEDS = "not by seeds: first a regime where the precondition holds"
Row = dict[str, Any]


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected at family-wise level `alpha`."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for step, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - step):
            break
        rejected[i] = True
    return rejected


def _half_width(row: Row, n: int, alpha: float) -> float:
    """The interval's half-width at n seeds, the per-seed spread and test term as measured."""
    s_sq = (row["se_seed"] ** 2) * row["n_seeds"]  # the per-seed variance
    seed_term = s_sq / n
    if row["test"] == SHARED:
        test_term = row["se_test"] ** 2
        return t_quantile(welch_df(seed_term, test_term, n), alpha) * math.sqrt(
            seed_term + test_term
        )
    return t_quantile(n - 1, alpha) * math.sqrt(seed_term)


def _distance(row: Row) -> float:
    """How far the estimate is from the boundary it leans towards, in the claim's units."""
    est, margin = row["estimate"], row["margin"]
    if row["rule_kind"] in ("Equivalent", "Differs"):  # two-sided bands (Differs: xue2024 C5)
        return abs(margin - abs(est))
    return abs(est - margin)


def seeds_needed(row: Row, alpha: float) -> int | str:
    """Seeds at which the interval at level `alpha` would clear the boundary (module doc)."""
    distance = _distance(row)
    if distance == 0.0:
        return "never: the estimate sits on the boundary"
    if row["test"] == SHARED and row["se_test"] > 0:
        floor = t_quantile(math.inf, alpha) * row["se_test"]
        if floor >= distance:
            factor = (floor / distance) ** 2
            return (
                f"never: test-sample floor {floor:.3g} >= distance {distance:.3g} to the "
                f"boundary; needs about {factor:.1f}x the test samples"
            )
    if not math.isfinite(row["se_seed"]) or row["n_seeds"] < 2:
        return "unknown: one seed has no spread; run at least 3"
    if _half_width(row, MAX_SEEDS, alpha) >= distance:
        return f"more than {MAX_SEEDS}"
    low, high = 1, MAX_SEEDS  # the half-width falls with n: bisect for the first n that clears
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if _half_width(row, mid, alpha) < distance else (mid, high)
    return high


def _why(row: Row, alpha: float, family_size: int) -> str:
    if row["precondition"]["status"] == FAILED:
        pre = row["precondition"]
        evidence = f" (measured: {pre['evidence']})" if pre.get("evidence") else ""
        return f"not answerable here: the precondition failed: {pre['rule']}{evidence}"
    if row["exact"]:
        return "an exact figure (zero-width interval): a check, not a finding"
    needed = row["seeds_needed"]
    if row["raw_verdict"] != INCONCLUSIVE:
        where = f"{row['raw_verdict']} on its own, not after Holm over {family_size} claims"
    else:
        where = "its interval reaches the boundary"
    if isinstance(needed, int):
        return f"{where}; about {needed} seeds would decide it at level {alpha:.2g}"
    return f"{where}; {needed}"


def decide_families(rows: Sequence[Row], alpha: float = ALPHA, family: str = "paper") -> list[Row]:
    """Rows with `verdict` the family verdict (Holm at `alpha`), `raw_verdict` kept, and for the
    undecided ones `seeds_needed` and `why`. Rows whose `family` is None join `family`."""
    rows = [{**r, "family": r.get("family") or family} for r in rows]
    for name in dict.fromkeys(r["family"] for r in rows):
        members = [r for r in rows if r["family"] == name]
        p = [1.0 if r["precondition"]["status"] == FAILED else r["p_value"] for r in members]
        rejected = holm(p, alpha)
        next_level = alpha / max(1, len(members) - sum(rejected))  # the next Holm step's level
        for row, decided in zip(members, rejected, strict=True):
            row["family_size"], row["family_alpha"] = len(members), alpha
            row["verdict"] = row["leans"] if decided else INCONCLUSIVE
            if decided:
                row["seeds_needed"], row["why"] = None, ""
                continue
            # A figure that seeds cannot move (one testbed, trained once) names its own unit;
            # no seed count answers a claim whose arms did not learn what it is about.
            if row["precondition"]["status"] == FAILED:
                row["seeds_needed"] = NOT_BY_SEEDS
            else:
                row["seeds_needed"] = row.get("needs_instead") or seeds_needed(row, next_level)
            row["why"] = _why(row, next_level, len(members))
    return rows


def row_problems(rows: Sequence[Row]) -> list[str]:
    """What breaks the table's promises: each claim has a margin, a family verdict and a
    precondition; none is decided on an exact figure; each undecided one says why and what it
    would take. Empty when the rows keep them (`registry.run_paper` refuses others)."""
    problems = []
    for r in rows:
        if "family_size" not in r:
            problems.append(f"{r['id']}: no family verdict (decide_families was skipped)")
        elif r["verdict"] == INCONCLUSIVE and not (r.get("seeds_needed") and r.get("why")):
            problems.append(f"{r['id']}: undecided without seeds_needed and why")
        if r.get("margin") is None or "precondition" not in r:
            problems.append(f"{r['id']}: no margin or precondition field")
        if r.get("exact") and r["verdict"] != INCONCLUSIVE:
            problems.append(f"{r['id']}: decided on an exact figure")
    return problems


def two_looks(
    pilot: Sequence[Row],
    run_more: Callable[[list[Row]], Sequence[Row] | None],
    alpha: float = ALPHA,
) -> tuple[list[Row], list[Row]]:
    """A pilot decided at alpha / 2; if claims remain undecided, `run_more(pilot_rows)` returns
    the follow-up's rows (all seeds; None: no follow-up), decided at alpha / 2. Returns the final
    rows (each tagged with the look that decided it) and the pilot's rows."""
    first = decide_families(pilot, alpha / 2)
    for row in first:
        row["look"] = 1
    if all(r["verdict"] != INCONCLUSIVE for r in first):
        return first, first
    more = run_more(first)
    if more is None:
        return first, first
    second = {r["id"]: r for r in decide_families(more, alpha / 2)}
    final = []
    for row in first:
        if row["verdict"] in (HELD, NOT_HELD) or row["id"] not in second:
            final.append(row)
        else:
            final.append({**second[row["id"]], "look": 2})
    return final, first


def seeds_for_follow_up(rows: Sequence[Row], cap: int) -> int:
    """The most seeds any undecided claim asks for (its own count), at most `cap`."""
    wanted = [
        r["seeds_needed"] for r in rows
        if r["verdict"] == INCONCLUSIVE and isinstance(r.get("seeds_needed"), int)
    ]  # fmt: skip
    return min(max(wanted, default=0), cap)
