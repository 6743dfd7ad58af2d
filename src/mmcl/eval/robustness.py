"""Effective robustness: the baseline line fit and each model's distance above it.

Taori et al. 2020 ("Measuring Robustness to Natural Distribution Shifts") and Fang et al. 2022
("Data Determines Distributional Robustness in CLIP", sec. 2): fit
``T(acc_ood) ~ a * T(acc_id) + b`` by OLS on a family of standard (baseline) models, with ``T`` the
logit (default), probit or identity, and report for every model

    ER = acc_ood - T^-1(a * T(acc_id) + b)        in accuracy points (pp).

The y-axis is one shift, or the average over several shifts: accuracies are averaged first and the
mean is then transformed (Fang's definition), never the other way round.

The confidence band follows imagenet-testbed's ``plotting/plotter.py``: resample the baseline models
with replacement (``RandomState(seed).choice``, default 1000 times and the testbed's seed), refit by
least squares, and take the 2.5th ('lower') and 97.5th ('higher') percentiles of the predictions at
each x. A model's ER interval is its OOD accuracy minus that band at its ID accuracy.

Accuracies of exactly 0 or 1 make logit/probit infinite (ResNet-50 scores 0 on ImageNet-A). The
testbed splits its fit at such a point; mmcl instead clips the value that gets transformed (the
shift's accuracy, or the average, never the shifts inside an average) to ``[eps, 1 - eps]`` and
warns with the models' names (``degenerate="clip"``, eps 1e-3 = 0.1 pp), drops those pairs from
that target's fit and table (``"drop"``), or refuses (``"error"``). ER itself compares the raw OOD
accuracy with the prediction. Averages over shifts are rarely exactly 0 or 1, so Fang's avg5/avg4
numbers do not depend on this choice; a per-shift ImageNet-A fit does (slope 3.2 with eps 1e-3).

Relative robustness (Taori's tau for an intervention f -> f'): the plain OOD gain of a model over a
named reference model, ``acc_ood(f') - acc_ood(f)`` in pp, reported when a reference is given.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from mmcl.errors import MMCLError
from mmcl.registry import Registry, unknown_name_message

TESTBED_SEED = 720257663  # imagenet-testbed's bootstrap seed, so CIs match its plots
DEGENERATE_POLICIES = ("clip", "drop", "error")


@dataclass(frozen=True)
class Transform:
    """An axis scaling: accuracy fraction <-> the space where the baseline is a straight line."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    open_interval: bool  # True when 0 and 1 map to +-inf


TRANSFORMS: Registry[Transform] = Registry("axis transform")
TRANSFORMS.register("logit")(Transform("logit", special.logit, special.expit, True))
TRANSFORMS.register("probit")(Transform("probit", stats.norm.ppf, stats.norm.cdf, True))
TRANSFORMS.register("linear")(Transform("linear", np.asarray, np.asarray, False))


def get_transform(name: str) -> Transform:
    """The registered transform, or an MMCLError naming the valid ones."""
    if name not in TRANSFORMS:
        raise MMCLError(unknown_name_message("axis transform (--transform)", name, TRANSFORMS))
    return TRANSFORMS.get(name)


@dataclass
class ModelPoint:
    """One evaluated model: ID and OOD accuracies as fractions; a missing shift is absent."""

    label: str  # unique display name, e.g. "RN50/openai"
    id_acc: float
    ood: dict[str, float]  # shift name -> accuracy fraction
    ident: dict[str, str] = field(default_factory=dict)  # identifying columns (name, pretrained)
    group: str = "model"
    baseline: bool = False  # used to fit the line
    reported: bool = True  # False for rows of an external baseline table: plotted, not listed
    # The training run the model is a checkpoint of: checkpoints of one run are not independent
    # models (their offsets from the line move together), so the line's bootstrap resamples
    # runs, not points. "" = a run of its own.
    cluster: str = ""
    source: str = ""  # the file(s) or table line the accuracies were read from, to re-check


@dataclass(frozen=True)
class Target:
    """The y-axis: one shift, or the mean accuracy over several shifts (averaged before T)."""

    name: str
    shifts: tuple[str, ...]
    description: str

    def accuracy(self, point: ModelPoint) -> float | None:
        """The model's y value, or None when it lacks one of the shifts."""
        if not all(s in point.ood for s in self.shifts):
            return None
        return float(np.mean([point.ood[s] for s in self.shifts]))


def build_targets(shifts: Sequence[str], average: str, exclude: Sequence[str] = ()) -> list[Target]:
    """Per-shift targets, plus the average over ``shifts`` minus ``exclude`` when average='avg'."""
    if average not in ("avg", "none"):
        raise MMCLError(f"--average must be 'avg' or 'none', got {average!r}")
    unknown = [s for s in exclude if s not in shifts]
    if unknown:
        raise MMCLError(
            f"--average-exclude names {unknown}, which are not among --ood {list(shifts)}"
        )
    targets = [Target(s, (s,), f"accuracy on {s}") for s in shifts]
    kept = tuple(s for s in shifts if s not in exclude)
    if average == "avg" and len(kept) >= 2:
        name = f"avg{len(kept)}"
        desc = f"mean of accuracies over {list(kept)}, averaged first, then transformed"
        if exclude:
            desc += f" (excluded: {list(exclude)})"
        targets.append(Target(name, kept, desc))
    return targets


@dataclass(frozen=True)
class LineFit:
    """OLS line in transformed space: T(y) = slope * T(x) + intercept."""

    transform: str
    slope: float
    intercept: float
    r: float
    n: int

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """Predicted OOD accuracy (fraction) at ID accuracy ``x`` (fraction)."""
        t = get_transform(self.transform)
        return t.inverse(self.slope * t.forward(np.asarray(x, dtype=float)) + self.intercept)


def fit_line(x: np.ndarray, y: np.ndarray, transform: str) -> LineFit:
    """scipy.stats.linregress on the transformed points, as the testbed does."""
    t = get_transform(transform)
    if np.ptp(x) == 0:
        raise MMCLError(
            f"the {len(x)} baseline models all have ID accuracy {x[0]:.4f}: a line needs "
            "baseline models with different ID accuracies (add models, or vary their training)"
        )
    res = stats.linregress(t.forward(x), t.forward(y))
    return LineFit(transform, float(res.slope), float(res.intercept), float(res.rvalue), len(x))


def bootstrap_coeffs(
    x: np.ndarray,
    y: np.ndarray,
    transform: str,
    n: int,
    seed: int,
    clusters: Sequence[str] | None = None,
) -> np.ndarray:
    """(n, 2) [intercept, slope] of least-squares refits on baseline resamples with replacement.

    Points are resampled one by one (imagenet-testbed's bootstrap, same generator and call
    order) unless `clusters` groups them into runs (`ModelPoint.cluster`): then whole runs are
    resampled, so checkpoints of one run come and go together and the spread counts runs.
    """
    t = get_transform(transform)
    tx, ty = t.forward(x), t.forward(y)
    rng = np.random.RandomState(seed)  # the testbed's generator and call order
    groups = _cluster_indices(clusters, len(tx))
    coeffs = np.empty((n, 2))
    for i in range(n):
        if groups is None:
            idx = rng.choice(len(tx), len(tx))
        else:
            idx = np.concatenate([groups[k] for k in rng.choice(len(groups), len(groups))])
        design = np.stack([np.ones(len(idx)), tx[idx]], axis=1)  # (m, 2)
        coeffs[i] = np.linalg.lstsq(design, ty[idx], rcond=None)[0]
    return coeffs


def _cluster_indices(clusters: Sequence[str] | None, n: int) -> list[np.ndarray] | None:
    """Point indices per run, or None when every point is its own run."""
    if clusters is None:
        return None
    keys = [c or f"#point{i}" for i, c in enumerate(clusters)]
    if len(set(keys)) == n:
        return None
    order = list(dict.fromkeys(keys))
    return [np.flatnonzero(np.array(keys) == k) for k in order]


def independent_runs(points: Sequence[ModelPoint]) -> int:
    """How many independent runs the points come from (checkpoints of one run count once)."""
    return len({p.cluster or f"#point{i}" for i, p in enumerate(points)})


def prediction_band(
    coeffs: np.ndarray, x: np.ndarray, transform: str, level: float = 95.0
) -> tuple[np.ndarray, np.ndarray]:
    """Lower/upper predicted OOD accuracy at each ``x`` over the bootstrap lines (fractions)."""
    t = get_transform(transform)
    tx = t.forward(np.atleast_1d(np.asarray(x, dtype=float)))
    preds = coeffs[:, :1] + coeffs[:, 1:] * tx[None, :]  # (B, len(x))
    tail = (100.0 - level) / 2
    lo = np.percentile(preds, tail, axis=0, method="lower")
    hi = np.percentile(preds, 100.0 - tail, axis=0, method="higher")
    return t.inverse(lo), t.inverse(hi)


@dataclass(frozen=True)
class RobustnessConfig:
    """How to fit and report; defaults reproduce the testbed/Fang setting."""

    transform: str = "logit"
    average: str = "avg"  # "avg": add the mean over shifts as a target; "none": per shift only
    exclude_from_average: tuple[str, ...] = ()  # e.g. ("ImageNet-A",) for Fang's avg4
    bootstrap: int = 1000  # resamples of the baseline; 0 disables intervals
    seed: int = TESTBED_SEED
    level: float = 95.0
    degenerate: str = "clip"  # what to do with accuracies of exactly 0 or 1 (module docstring)
    eps: float = 1e-3  # clip bound for degenerate="clip": 0.1 accuracy points
    reference: str | None = None  # label of the model for relative robustness
    # True: every target is fitted on the baseline models that have all shifts, one set for all
    # (fang2022 baseline A: 80 of the testbed's 85); False: each target on all that have it.
    complete_baseline: bool = True


@dataclass
class TargetFit:
    """The baseline line for one target and its bootstrap coefficients."""

    target: Target
    fit: LineFit
    coeffs: np.ndarray | None  # (B, 2) or None without bootstrap
    baseline_labels: list[str]
    id_range: tuple[float, float]  # baseline ID accuracies; outside it the ER extrapolates
    runs: int  # independent runs among the baseline points (`ModelPoint.cluster`)


@dataclass
class ModelResult:
    """One model's numbers per target name (accuracies as fractions, ER in pp)."""

    point: ModelPoint
    acc: dict[str, float] = field(default_factory=dict)
    predicted: dict[str, float] = field(default_factory=dict)
    er: dict[str, float] = field(default_factory=dict)
    er_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    relative: dict[str, float] = field(default_factory=dict)
    extrapolated: bool = False  # ID accuracy outside the main target's baseline range


@dataclass
class RobustnessResult:
    """Fits per target, per-model results sorted by ER on the main target, and notes."""

    config: RobustnessConfig
    targets: list[Target]
    fits: dict[str, TargetFit]
    models: list[ModelResult]
    notes: list[str]

    @property
    def main_target(self) -> Target:
        """The average when there is one (the sort key), else the first shift."""
        return self.targets[-1] if len(self.targets[-1].shifts) > 1 else self.targets[0]


def _check_degenerate(
    points: Sequence[ModelPoint], targets: Sequence[Target], cfg: RobustnessConfig
) -> str | None:
    """Name every ID or target accuracy of exactly 0 or 1; refuse, or say what will be done."""
    if cfg.degenerate not in DEGENERATE_POLICIES:
        raise MMCLError(f"degenerate must be one of {DEGENERATE_POLICIES}, got {cfg.degenerate!r}")
    if not get_transform(cfg.transform).open_interval:
        return None
    bad = []
    for p in points:
        values = [("ID", p.id_acc)] + [(t.name, t.accuracy(p)) for t in targets]
        bad += [f"{p.label}: {n}={v:g}" for n, v in values if v is not None and not 0 < v < 1]
    if not bad:
        return None
    if cfg.degenerate == "error":
        raise MMCLError(
            f"accuracies of exactly 0 or 1 have no {cfg.transform}: {bad}; "
            "use --degenerate clip (with --eps) or drop, or --transform linear"
        )
    if cfg.degenerate == "drop":
        return f"dropped accuracies of 0 or 1 from the fit and the table: {bad}"
    lo, hi = cfg.eps, 1.0 - cfg.eps
    return f"clipped accuracies of 0 or 1 to [{lo:g}, {hi:g}] before the {cfg.transform}: {bad}"


def _xy(x: float, y: float, cfg: RobustnessConfig) -> tuple[float, float] | None:
    """The (ID, OOD) pair used on transformed axes: clipped, or None when dropped."""
    if not get_transform(cfg.transform).open_interval:
        return x, y
    if cfg.degenerate == "drop" and not (0 < x < 1 and 0 < y < 1):
        return None
    lo, hi = cfg.eps, 1.0 - cfg.eps
    return float(np.clip(x, lo, hi)), float(np.clip(y, lo, hi))


def _fit_target(
    target: Target, points: Sequence[ModelPoint], shifts: Sequence[str], cfg: RobustnessConfig
) -> TargetFit:
    """Fit the baseline line (and bootstrap) for one target; needs >= 3 baseline points."""
    needed = shifts if cfg.complete_baseline else target.shifts
    base = [p for p in points if p.baseline and set(needed) | set(target.shifts) <= set(p.ood)]
    pairs = [(p, _xy(p.id_acc, target.accuracy(p), cfg)) for p in base]
    kept = [(p, xy) for p, xy in pairs if xy is not None]
    if len(kept) < 3:
        raise MMCLError(
            f"only {len(kept)} baseline model(s) have ID and {target.name} accuracies; a line fit "
            "needs at least 3 (check --baseline-where / --baseline-table and the --ood columns)"
        )
    x = np.array([xy[0] for _, xy in kept])
    y = np.array([xy[1] for _, xy in kept])
    fit = fit_line(x, y, cfg.transform)
    clusters = [p.cluster for p, _ in kept]
    coeffs = (
        bootstrap_coeffs(x, y, cfg.transform, cfg.bootstrap, cfg.seed, clusters)
        if cfg.bootstrap
        else None
    )
    labels, runs = [p.label for p, _ in kept], independent_runs([p for p, _ in kept])
    return TargetFit(target, fit, coeffs, labels, (x.min(), x.max()), runs)


def _score(result: ModelResult, tfit: TargetFit, cfg: RobustnessConfig) -> None:
    """Fill the model's accuracy, prediction, ER and ER interval for one target."""
    name = tfit.target.name
    y = tfit.target.accuracy(result.point)
    xy = None if y is None else _xy(result.point.id_acc, y, cfg)
    if y is None or xy is None:
        return
    x = xy[0]  # ER compares the raw OOD accuracy with the prediction at the (clipped) ID one
    pred = float(tfit.fit.predict(x))
    result.acc[name], result.predicted[name] = y, pred
    result.er[name] = 100.0 * (y - pred)
    if tfit.coeffs is not None:
        lo, hi = prediction_band(tfit.coeffs, np.array([x]), cfg.transform, cfg.level)
        result.er_ci[name] = (100.0 * (y - float(hi[0])), 100.0 * (y - float(lo[0])))


def _relative(results: list[ModelResult], reference: str, targets: list[Target]) -> None:
    """OOD gain in pp over the reference model (Taori's tau), per target it has."""
    labels = [r.point.label for r in results]
    if reference not in labels:
        raise MMCLError(unknown_name_message("reference model (--reference)", reference, labels))
    ref = results[labels.index(reference)]
    for r in results:
        for t in targets:
            if t.name in r.acc and t.name in ref.acc:
                r.relative[t.name] = 100.0 * (r.acc[t.name] - ref.acc[t.name])


def _missing_notes(
    points: Sequence[ModelPoint], shifts: Sequence[str], cfg: RobustnessConfig
) -> list[str]:
    """One note per model that lacks some shifts (those targets are skipped for it)."""
    notes = []
    for p in points:
        missing = [s for s in shifts if s not in p.ood]
        if not missing:
            continue
        role = "baseline model " if p.baseline else ""
        fits = " and left out of every baseline fit" if p.baseline and cfg.complete_baseline else ""
        notes.append(f"{role}{p.label} has no {missing}: skipped those shifts, their average{fits}")
    return notes


def to_document(
    result: RobustnessResult,
    baseline: str = "",
    skipped: Sequence[dict[str, str]] = (),
    notes: Sequence[str] = (),
) -> dict:
    """A JSON-ready dict: settings, one fit per target, one record per reported model, the
    inputs left out with why (`skipped`: source, what, reason) and the notes (the reading's
    `notes` first, then the fit's)."""
    cfg = result.config
    return {
        "transform": cfg.transform,
        "averaging": [t.description for t in result.targets if len(t.shifts) > 1] or "none",
        "baseline": baseline,
        "bootstrap": {"resamples": cfg.bootstrap, "seed": cfg.seed, "level": cfg.level},
        "degenerate": {"policy": cfg.degenerate, "eps": cfg.eps},
        "sorted_by": f"ER on {result.main_target.name}",
        "fits": {n: _fit_record(f, cfg.level) for n, f in result.fits.items()},
        "models": [_model_record(m) for m in result.models if m.point.reported],
        "skipped": list(skipped),
        "notes": [*notes, *result.notes],
    }


def _fit_record(tf: TargetFit, level: float) -> dict:
    """Slope, intercept, r, n and bootstrap percentile intervals of the coefficients."""
    rec = {"shifts": list(tf.target.shifts), "slope": tf.fit.slope, "intercept": tf.fit.intercept}
    rec.update(r=tf.fit.r, n=tf.fit.n)
    if tf.coeffs is not None:
        tail = (100.0 - level) / 2
        lo = np.percentile(tf.coeffs, tail, axis=0, method="lower")  # (2,) intercept, slope
        hi = np.percentile(tf.coeffs, 100.0 - tail, axis=0, method="higher")
        rec["intercept_ci"] = [float(lo[0]), float(hi[0])]
        rec["slope_ci"] = [float(lo[1]), float(hi[1])]
    return rec


def _model_record(m: ModelResult) -> dict:
    """Accuracies in %, ER and its interval in pp, per target."""
    p = m.point
    per_target = {
        name: {
            "acc_pct": 100.0 * m.acc[name],
            "predicted_pct": 100.0 * m.predicted[name],
            "er_pp": m.er[name],
            "er_ci_pp": list(m.er_ci[name]) if name in m.er_ci else None,
            **({"relative_pp": m.relative[name]} if name in m.relative else {}),
        }
        for name in m.er
    }
    return {
        **p.ident,
        "model": p.label,
        "source": p.source,
        "group": p.group,
        "baseline": p.baseline,
        "id_acc_pct": 100.0 * p.id_acc,
        "extrapolated": m.extrapolated,
        "ood_acc_pct": {s: 100.0 * v for s, v in p.ood.items()},
        "targets": per_target,
    }


def compute_robustness(
    points: Sequence[ModelPoint], shifts: Sequence[str], cfg: RobustnessConfig | None = None
) -> RobustnessResult:
    """Fit the baseline per target on the ``baseline`` points and score every point."""
    cfg = cfg or RobustnessConfig()
    get_transform(cfg.transform)
    notes = _missing_notes(points, shifts, cfg)
    targets = build_targets(shifts, cfg.average, cfg.exclude_from_average)
    degenerate = _check_degenerate(points, targets, cfg)
    if degenerate:
        warnings.warn(degenerate, stacklevel=2)
        notes.append(degenerate)
    fits = {t.name: _fit_target(t, points, shifts, cfg) for t in targets}
    results = [ModelResult(p) for p in points]
    for r in results:
        for tfit in fits.values():
            _score(r, tfit, cfg)
    if cfg.reference is not None:
        _relative(results, cfg.reference, targets)
    out = RobustnessResult(cfg, targets, fits, results, notes)
    lo, hi = fits[out.main_target.name].id_range
    for r in results:
        r.extrapolated = not lo <= r.point.id_acc <= hi
    outside = [r.point.label for r in results if r.extrapolated and r.point.reported]
    if outside:
        notes.append(
            f"{len(outside)} model(s) have ID accuracy outside the baseline's "
            f"[{100 * lo:.1f}, {100 * hi:.1f}] %: their ER extrapolates the line"
        )
    main = out.main_target.name
    results.sort(key=lambda r: (main not in r.er, -r.er.get(main, 0.0)))
    return out
