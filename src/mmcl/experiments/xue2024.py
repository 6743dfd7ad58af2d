"""`mmcl repro xue2024`: Xue et al. 2024 (arXiv 2310.04971), vectors and images, one claims table.

Runs the vector sweeps (`mmcl.experiments.xue_vector`, the spec's RECON data model and learners)
and the shapes image sweep (`mmcl.experiments.xue_images`), then merges their claims. The spec
(/work/shared/papers/xue2024.md) is a reconstruction: the paper's body and figures were not read,
so every row compares *our* figure with the paper's *stated direction*; the paper's own figure is
unknown and the `paper` column says so.

Seeds: every claim's `ours` is the mean ± std (ddof 1) over seeds when there are several, and
`held` is decided on the seed means (never per seed, never a constant).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmcl import __version__
from mmcl.errors import MMCLError
from mmcl.eval.tasks import make_record, write_results
from mmcl.experiments import xue_images, xue_vector
from mmcl.io import atomic_write_text

log = logging.getLogger(__name__)

CLAIM_KEYS = ("id", "statement", "paper", "ours", "held")
UNKNOWN = "figure unknown"
NOTE = (
    "The spec is a reconstruction: figures are ours against the paper's stated directions; "
    "the paper's own figures are unknown."
)
# Claim id prefix (before "/learner") -> the direction the paper states (spec section 3).
DIRECTIONS = {
    "C1": "MMCL OOD acc > SL OOD acc (C1)",
    "C2-core_alignment": "learned features favour high-variance core (C2)",
    "C2-zs_core_alignment": "learned features favour high-variance core (C2)",
    "C2-gap": "MMCL advantage needs intra-class variance (C2)",
    "C2-prototype": "intra-class contrasting helps OOD (C2)",
    "A4.2": "advantage when sigma_spurious is small (Assumption 4.2)",
    "C3": "shared annotated details raise OOD acc (C3)",
    "C3-order": "all > class0 > none (C3, spec item 5)",
    "C4": "richer captions raise OOD acc (C4)",
    "C8": "same sign for every loss (spec item 8)",
    "IMG-C1": "CLIP > supervised under shift (C6)",
    "IMG-C4": "richer captions raise OOD acc (C6)",
}


def paper_column(claim_id: str) -> str:
    """The paper's stated direction for a claim id, and that its figure is unknown."""
    direction = DIRECTIONS.get(claim_id.split("/")[0], "direction not stated")
    return f"{direction}; {UNKNOWN}"


def merge_claims(vector_claims: Sequence[dict], image_claims: Sequence[dict]) -> list[dict]:
    """One table: every row's `paper` column rewritten from `DIRECTIONS`."""
    return [{**row, "paper": paper_column(row["id"])} for row in [*vector_claims, *image_claims]]


def public_claims(claims: Sequence[dict]) -> list[dict]:
    """The rows as `--json` prints them: only `CLAIM_KEYS`."""
    return [{key: row[key] for key in CLAIM_KEYS} for row in claims]


def seed_list(seeds: int | None, default: Sequence[int]) -> tuple[int, ...]:
    """`--seeds N` -> (0, ..., N-1); None -> the scale's default seeds."""
    if seeds is None:
        return tuple(default)
    if seeds < 1:
        raise MMCLError(f"--seeds {seeds}: give a number of seeds >= 1")
    return tuple(range(seeds))


def vector_records(results: dict[str, list[dict]], n_test: int) -> list[dict]:
    """Vector sweep rows as `mmcl.eval.tasks` records: one per (row, split id/ood)."""
    out = []
    for experiment, rows in results.items():
        for r in rows:
            task = "classifier" if r["learner"] == "sl" else "zeroshot"
            for split in ("id", "ood"):
                record = make_record(
                    r["learner"],
                    task,
                    "xue_vector",
                    split,
                    n_test,
                    "accuracy",
                    r[f"{split}_acc"],
                    experiment=experiment,
                    seed=r["seed"],
                    param=r["param"],
                    param_value=r["value"],
                )
                out.append(record)
    return out


def run(
    scale: str, seeds: int | None, out_dir: str | Path, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Every sweep at `scale`; writes results.json, claims.json, report.html under `out_dir`.

    `overrides` (RunConfig key=value) reach the image sweep: `data.format=coco data.path=...
    data.val_path=... data.val_shifts=...` runs it on real captions (`xue_images.run_images`).

    Returns {"meta", "records", "claims", "vector", "note"} (vector: the raw sweep rows).
    """
    out_dir, start = Path(out_dir), time.perf_counter()
    vec_scale, img_scale = xue_vector._scale(scale), xue_images.image_scale(scale)
    vec_seeds, img_seeds = seed_list(seeds, vec_scale.seeds), seed_list(seeds, img_scale.seeds)
    log.info("xue2024 %s: vector sweeps, seeds %s", scale, vec_seeds)
    vector = xue_vector.run_all(scale, vec_seeds)
    vector["p_train"] = xue_vector.sweep_p_train(scale, vec_seeds)
    vec_seconds = time.perf_counter() - start
    log.info(
        "xue2024 %s: vector sweeps took %.0f s; image sweep, seeds %s",
        scale,
        vec_seconds,
        img_seeds,
    )
    images = xue_images.run_images(scale, img_seeds, out_dir / "images", overrides)
    claims = merge_claims(xue_vector.claims_from_results(vector), xue_images.image_claims(images))
    meta = {
        "mmcl_version": __version__,
        "run": "repro_xue2024",
        "paper": "xue2024",
        "scale": scale,
        "vector_seeds": list(vec_seeds),
        "image_seeds": list(img_seeds),
        "image_overrides": list(overrides),
        "seconds_vector": round(vec_seconds, 1),
        "seconds": round(time.perf_counter() - start, 1),
    }
    records = vector_records(vector, vec_scale.n_test) + images
    result = {
        "meta": meta,
        "records": records,
        "claims": claims,
        "vector": vector,
        "note": NOTE,
    }
    write_outputs(out_dir, result)
    return result


def write_outputs(out_dir: Path, result: dict[str, Any]) -> None:
    """results.json (meta + records, `read_results`-compatible), claims.json, report.html."""
    from mmcl.experiments.xue_report import write_xue_report

    write_results(out_dir / "results.json", result["meta"], result["records"])
    text = json.dumps(result["claims"], indent=1, default=float)
    atomic_write_text(out_dir / "claims.json", text)
    write_xue_report(out_dir, result)
