"""Linear probe: logistic regression on standardized frozen features (Radford et al. 2021, CLIP,
appendix A.3; Kornblith et al. 2019, "Do Better ImageNet Models Transfer Better?").

The probe is fitted once on the train split and then scored on any number of test splits (the
in-distribution test set and its shifts), so fitting and scoring are separate calls. The L2
strength C is picked on a held-out part of the train split unless fixed; the sweep runs from
strong to weak regularization with warm starts, which keeps it to seconds for N ~ 10k, F ~ 256.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mmcl.errors import MMCLError
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.features import FeatureSet

ArrayLike = torch.Tensor | np.ndarray


@dataclass
class ProbeConfig:
    """How the logistic-regression probe is fitted."""

    max_iter: int = 300  # lbfgs iterations; standardized features converge well within this
    C: float | None = None  # fixed inverse L2 strength; None sweeps `C_grid` on a validation split
    C_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)  # ascending: ties go to the stronger prior
    val_fraction: float = 0.2  # share of train held out to choose C
    seed: int = 0  # validation split
    # BLAS and OpenMP threads while fitting. One by default because they busy-wait: on the
    # shared 2-core machines a fit with 2 threads next to another process ran 30x slower.
    threads: int = 1


@dataclass
class LinearProbe:
    """A fitted probe: the train-set standardization and the classifier on top of it."""

    scaler: StandardScaler
    classifier: LogisticRegression
    C: float

    def predict(self, features: ArrayLike) -> np.ndarray:
        """Predicted labels (N,) for features (N, F)."""
        return self.classifier.predict(self.scaler.transform(as_numpy(features)))


def as_numpy(values: ArrayLike) -> np.ndarray:
    """A CPU numpy copy of a tensor or array; floating values become float32 for sklearn."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        values = values.float() if values.is_floating_point() else values
        return values.numpy()
    return np.asarray(values)


def _classifier(C: float, max_iter: int) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs", warm_start=True)


def _fit_quietly(
    classifier: LogisticRegression, x: np.ndarray, y: np.ndarray, threads: int
) -> None:
    # Hitting max_iter still gives a usable probe; the cap is the configured speed trade-off.
    with warnings.catch_warnings(), threadpool_limits(limits=threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(x, y)


def _validation_split(
    x: np.ndarray, y: np.ndarray, config: ProbeConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    _, counts = np.unique(y, return_counts=True)
    n_val = math.ceil(config.val_fraction * y.size)
    # Stratify only when every class can appear on both sides of the split.
    can_stratify = counts.min() >= 2 and counts.size <= min(n_val, y.size - n_val)
    stratify = y if can_stratify else None
    return train_test_split(
        x, y, test_size=config.val_fraction, random_state=config.seed, stratify=stratify
    )


def _choose_C(
    x: np.ndarray, y: np.ndarray, config: ProbeConfig
) -> tuple[float, LogisticRegression]:
    """The grid value with the best validation accuracy, and the classifier fitted with it."""
    x_fit, x_val, y_fit, y_val = _validation_split(x, y, config)
    classifier = _classifier(config.C_grid[0], config.max_iter)
    best: tuple[float, float, LogisticRegression] | None = None
    for C in sorted(config.C_grid):
        classifier.set_params(C=C)
        _fit_quietly(classifier, x_fit, y_fit, config.threads)  # warm-started from the previous C
        score = classifier.score(x_val, y_val)
        if best is None or score > best[0]:
            best = (score, C, copy.deepcopy(classifier))
    assert best is not None  # C_grid is checked non-empty by the caller
    return best[1], best[2]


def fit_linear_probe(
    features: ArrayLike, labels: ArrayLike, config: ProbeConfig | None = None
) -> LinearProbe:
    """Standardize features (N, F) on the train split and fit logistic regression to labels (N,)."""
    config = config or ProbeConfig()
    x, y = as_numpy(features), as_numpy(labels)
    if x.shape[0] != y.shape[0]:
        raise MMCLError(f"linear probe got {x.shape[0]} feature rows for {y.shape[0]} labels")
    if np.unique(y).size < 2:
        raise MMCLError("linear probe needs at least two classes in the train labels")
    if config.C is None and not config.C_grid:
        raise MMCLError("ProbeConfig needs either a fixed C or a non-empty C_grid")
    scaler = StandardScaler().fit(x)
    x = scaler.transform(x)
    if config.C is not None:
        C, classifier = config.C, _classifier(config.C, config.max_iter)
    else:
        C, classifier = _choose_C(x, y, config)  # refit below starts from the chosen weights
        if not np.array_equal(classifier.classes_, np.unique(y)):
            # A rare class fell entirely into the validation part: no weights to start from.
            classifier = _classifier(C, config.max_iter)
    _fit_quietly(classifier, x, y, config.threads)
    return LinearProbe(scaler=scaler, classifier=classifier, C=float(C))


def probe_accuracy(probe: LinearProbe, features: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of samples whose predicted label equals the true one."""
    y = as_numpy(labels)
    if y.shape[0] == 0:
        raise MMCLError("probe_accuracy got an empty split; check the test data")
    return float(np.mean(probe.predict(features) == y))


def evaluate(
    train: FeatureSet, tests: Mapping[str, FeatureSet], config: ProbeConfig | None = None
) -> dict[str, float]:
    """Fit on `train`'s class labels once; `{split}/accuracy` for every test split, and `C`."""
    train = train.labelled()
    probe = fit_linear_probe(train.features, train.labels, config)
    metrics = {"C": probe.C}
    for split, test in tests.items():
        test = test.labelled()
        metrics[f"{split}/accuracy"] = probe_accuracy(probe, test.features, test.labels)
    return metrics


@eval_task("linear_probe")
def score_linear_probe(ctx: EvalContext) -> Records:
    """One probe fitted on the train features, scored on every split."""
    ctx.progress("linear probe")
    train = ctx.train()
    probe = fit_linear_probe(train.features, train.labels)
    return [
        ctx.record("linear_probe", name, "accuracy", probe_accuracy(probe, fs.features, fs.labels))
        for name, fs in ctx.tests.items()
    ]
