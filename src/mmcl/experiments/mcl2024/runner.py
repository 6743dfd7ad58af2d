"""`mmcl repro mcl2024`: every seed's runs trained two at a time, then the claims decided.

Per seed two jobs (`measure.simclr_job`, `measure.clip_job`), spread over `Scale.jobs` worker
processes with one torch thread each; their per-seed numbers are merged into the raw input of
`claims`, which decides every claim over the seeds. Outputs under `out_dir`: `results.json`
(records), `claims.json` (claims and checks), `report.html`, and one folder of runs per seed
(`seed_<s>/`); a rerun resumes finished runs instead of training them again. Probe records carry
their per-sample correctness (`correct`, packed bits), the input of the paired errors.

Claims are decided once, all together: each claim's own verdict (`claims.claim_rows`), the
learnability gates as preconditions (`calibrated.ungated`), then Holm's step-down over the
paper's one family (`mmcl.verdicts.decide_families`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmcl import __version__
from mmcl.eval.tasks import CORRECT_KEY, make_record, write_results
from mmcl.experiments.calibrated import gate_check, learnability_gate, ungated
from mmcl.experiments.mcl2024 import claims, measure
from mmcl.experiments.mcl2024.report import write_report_page
from mmcl.experiments.mcl2024.roles import SHAPES, Roles, roles_for
from mmcl.experiments.mcl2024.scales import Scale, gate_budget, get_scale, run_configs
from mmcl.experiments.registry import seed_list
from mmcl.io import atomic_write_json
from mmcl.runs.executors import map_runs
from mmcl.verdicts import decide_families

log = logging.getLogger(__name__)

JOBS = {"simclr": measure.simclr_job, "clip": measure.clip_job}

NOTE = (
    "Probe accuracies are fractions on the second half of each seed's balanced split; MMVP-style "
    "scores in claims are fractions of pairs with both statements right (chance 0.25), in records "
    "percentages. Each seed has its own world and test sets (per-seed test design), so each "
    "interval is Student's t on the per-seed figures, which already hold the test-sample noise; "
    "differences of two probes are paired over the samples both score. S1 and S4 name their arm "
    "(the weaker attribute, the best stage) on the first half of the scored samples and measure "
    "on the second. Every claim is answerable only where its precondition holds, fixed before "
    "the comparison: an arm probes the claim's attribute above chance (S1, S3-S6: the "
    "concatenation of all stages; S2: SimCLR on colour; M1/M2: plain CLIP and MCL-CLIP on the "
    "attribute the pairs differ in). Verdicts are Holm-adjusted over the paper's claims, "
    "the raw verdict beside. SimCLR is MCL's stage 1 and plain CLIP is MCL-CLIP's stage 1. The "
    "paper's unimodal figures are not known [NR]: `paper` gives the direction the spec states. "
    "S5 compares models of equal width (stages 1+2 against the control pair, and against one "
    "SimCLR of twice the width); M1/M2 follow the paper's protocol, MCL-CLIP (two stages "
    "concatenated) against one CLIP stage, so there MCL-CLIP has twice the width. The old S6 "
    "(NMI of stage-3 groups with colour) was removed: a refinement of a colour-aligned partition "
    "keeps colour by construction."
)


def _job(kind: str, sc: Scale, seed: int, out_dir: Path, overrides: tuple[str, ...]) -> dict:
    """One job of one seed (module level, so worker processes can run it)."""
    threads = 1 if sc.jobs > 1 else 0  # 0: leave the process's thread count alone
    return JOBS[kind](sc, seed, out_dir, overrides, threads)


def merge_seed(simclr: dict[str, Any], clip: dict[str, Any]) -> dict[str, Any]:
    """One seed's raw numbers for `claims`: both jobs' probes side by side."""
    return {
        **simclr,
        "probes": {**simclr["probes"], **clip["probes"]},
        "correct": {**simclr["correct"], **clip["correct"]},
        "mmvp": clip["mmvp"],
    }


def train_and_measure(
    sc: Scale, seeds: Sequence[int], out_dir: Path, overrides: Sequence[str]
) -> list[dict[str, Any]]:
    """Every seed's raw numbers, in seed order."""
    calls = [(kind, sc, s, out_dir, tuple(overrides)) for s in seeds for kind in JOBS]

    def done(count: int, index: int, _: Any) -> None:
        kind, _, seed, _, _ = calls[index]
        log.info("mcl2024: %s runs of seed %d done (%d/%d)", kind, seed, count, len(calls))

    results = map_runs(_job, calls, sc.jobs, done)
    pairs = zip(results[0::2], results[1::2], strict=True)
    return [merge_seed(simclr, clip) for simclr, clip in pairs]


def run_roles(sc: Scale, overrides: Sequence[str]) -> Roles:
    """The roles of the world the runs train on (`data.world`, with the scale's world knobs)."""
    cfg = run_configs(sc, sc.seeds[0], Path("unused"), overrides)["simclr-mcl"]
    return roles_for(cfg.data.world_config())


def attribute_gates(
    sc: Scale, out_dir: Path, overrides: Sequence[str], roles: Roles = SHAPES
) -> list[dict[str, Any]]:
    """MCL's own gate: in its world (shapes' grey canvas), at one stage's budget, each probed
    attribute is learnable when it is the only signal (a supervised model trained with it as
    the label)."""
    budget = [*gate_budget(sc, roles.world), *overrides]
    return [
        learnability_gate(out_dir, budget=budget, attribute=attribute, jobs=sc.jobs)
        for attribute in roles.trifeature
    ]


def records(
    raw: Sequence[dict[str, Any]], n_pairs: int, dataset: str = SHAPES.dataset
) -> list[dict[str, Any]]:
    """Flat records: probe accuracies, cluster NMIs and MMVP-style scores, per seed."""
    out = []
    for r in raw:
        seed, n = r["seed"], r["n_probe_test"]
        for model, accs in r["probes"].items():
            for attribute, value in accs.items():
                packed = {CORRECT_KEY: r["correct"][model][attribute]}
                out.append(make_record(model, "attributes", dataset, "balanced", n, "accuracy",
                                       value, attribute=attribute, seed=seed,
                                       **packed))  # fmt: skip
        for clusters, nmi in r["nmi"].items():
            for attribute, value in nmi.items():
                name = f"simclr-mcl {clusters}"
                out.append(make_record(name, "cluster_nmi", dataset, "train", 0, "nmi", value,
                                       attribute=attribute, seed=seed))  # fmt: skip
        for model, per_attribute in r["mmvp"].items():
            for attribute, correct in per_attribute.items():
                out.append(make_record(model, "mmvp", dataset, "world_pairs", n_pairs,
                                       "pair_accuracy", 100.0 * float(np.mean(correct)),
                                       pattern=attribute, seed=seed))  # fmt: skip
    return out


def run(
    scale: str, seeds: int | None, out_dir: Path, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Train and measure every seed at `scale`, decide the claims, write the outputs.

    `overrides` (run-config key=value) go to every training run: the SimCLR runs and MCL-CLIP.
    """
    sc, out_dir, start = get_scale(scale), Path(out_dir), time.perf_counter()
    seed_ids = seed_list(seeds, sc.seeds)
    roles = run_roles(sc, overrides)  # before training: a world without roles is refused
    raw = train_and_measure(sc, seed_ids, out_dir, overrides)
    gates = attribute_gates(sc, out_dir / "gate", overrides, roles)
    meta = {
        "mmcl_version": __version__,
        "run": "repro_mcl2024",
        "paper": "mcl2024",
        "scale": scale,
        "seeds": list(seed_ids),
        "overrides": list(overrides),
        "seconds": round(time.perf_counter() - start, 1),
    }
    result = {
        "meta": meta,
        "records": records(raw, sc.mmvp_pairs, roles.dataset),
        # Gates first (they set the precondition), then the family step, once, over every claim
        # asked; a claim about an attribute the world lacks is in a family of its own.
        "claims": decide_families(
            [*ungated(claims.claim_rows(raw, roles), gates), *claims.absent_rows(roles)]
        ),
        "checks": [*claims.check_rows(raw), *map(gate_check, gates)],
        "note": f"{NOTE} {roles.reading.capitalize()}." if roles.reading else NOTE,
        "raw": raw,
    }
    write_results(out_dir / "results.json", meta, result["records"])
    atomic_write_json(
        out_dir / "claims.json", {"claims": result["claims"], "checks": result["checks"]}
    )
    write_report_page(out_dir, result)
    return result
