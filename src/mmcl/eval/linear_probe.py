"""Linear probe: logistic regression on standardized frozen features (Radford et al. 2021, CLIP,
appendix A.3; Kornblith et al. 2019, "Do Better ImageNet Models Transfer Better?").

The probe is fitted once on the train split and then scored on any number of test splits (the
in-distribution test set and its shifts), so fitting and scoring are separate calls. The L2
strength C is picked on a held-out part of the train split unless fixed; the sweep runs from
strong to weak regularization with warm starts, which keeps it to seconds for N ~ 10k, F ~ 256.
Two backends minimise the same objective (`mmcl.eval.torch_probe`): scikit-learn's lbfgs on the
CPU, and a torch L-BFGS on the GPU when there is one, for ImageNet-size sets.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mmcl.config import check_choice
from mmcl.errors import MMCLError
from mmcl.eval import torch_probe
from mmcl.eval.context import EvalContext, Records, eval_task
from mmcl.eval.features import FeatureSet
from mmcl.eval.tasks import pack_correct
from mmcl.eval.torch_probe import PROBE_BACKENDS, LinearWeights, Standardizer, TorchProbe

ArrayLike = torch.Tensor | np.ndarray
Model = TypeVar("Model")  # a backend's fitted classifier
Rows = TypeVar("Rows", np.ndarray, torch.Tensor)  # a backend's (standardized) features


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
    # "sklearn": scikit-learn's lbfgs; "torch": torch L-BFGS on the GPU if any (same objective);
    # "auto": torch when there is a GPU, else sklearn at every size. On the CPU with one thread
    # each, torch took 1.6-2.4x sklearn's time from 5k x 128 (10 classes) to 100k x 768 (100
    # classes) (bench/probe_backends.py): per-iteration cost is the same two matmuls, and torch
    # stops at a 10x tighter gradient. So no N x F threshold: CPU runs keep sklearn's numbers.
    backend: str = "auto"


class Probe(Protocol):
    """A fitted probe, whichever backend fitted it."""

    C: float

    def predict(self, features: ArrayLike) -> np.ndarray: ...


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


Fit = Callable[[Rows, np.ndarray, float, Model | None], Model]  # (x, y, C, warm start) -> fitted
Score = Callable[[Model, Rows, np.ndarray], float]  # (fitted, x, y) -> accuracy


def _choose_C(
    x: Rows, y: np.ndarray, config: ProbeConfig, fit: Fit, score: Score
) -> tuple[float, Model]:
    """The grid value with the best validation accuracy, and the classifier fitted with it."""
    fit_rows, val_rows, y_fit, y_val = _validation_split(np.arange(y.size), y, config)
    x_fit, x_val = x[fit_rows], x[val_rows]
    model, best = None, None
    for C in sorted(config.C_grid):
        model = fit(x_fit, y_fit, C, model)  # warm-started from the previous C
        accuracy = score(model, x_val, y_val)
        if best is None or accuracy > best[0]:
            best = (accuracy, C, model)
    assert best is not None  # C_grid is checked non-empty by the caller
    return best[1], best[2]


def _fit_with_C(
    x: Rows, y: np.ndarray, config: ProbeConfig, fit: Fit, score: Score
) -> tuple[float, Model]:
    """The fixed C, or the one chosen on a validation split, and the model refitted on all of
    x (warm-started from the chosen one)."""
    if config.C is not None:
        return config.C, fit(x, y, config.C, None)
    C, model = _choose_C(x, y, config, fit, score)
    return C, fit(x, y, C, model)


def _fit_sklearn(x: np.ndarray, y: np.ndarray, config: ProbeConfig) -> LinearProbe:
    """StandardScaler, then LogisticRegression(C, lbfgs)."""

    def fit(
        x: np.ndarray, y: np.ndarray, C: float, warm: LogisticRegression | None
    ) -> LogisticRegression:
        # A rare class can fall entirely into the validation part: then no weights to start from.
        if warm is None or not np.array_equal(warm.classes_, np.unique(y)):
            classifier = _classifier(C, config.max_iter)
        else:
            classifier = copy.deepcopy(warm)
            classifier.set_params(C=C)
        _fit_quietly(classifier, x, y, config.threads)
        return classifier

    scaler = StandardScaler().fit(x)
    C, classifier = _fit_with_C(scaler.transform(x), y, config, fit, LogisticRegression.score)
    return LinearProbe(scaler=scaler, classifier=classifier, C=float(C))


def _fit_torch(features: ArrayLike, y: np.ndarray, config: ProbeConfig) -> TorchProbe:
    """`torch_probe.Standardizer`, then `torch_probe.fit_weights` on the probe device."""
    device = torch_probe.probe_device()
    classes, indices = np.unique(y, return_inverse=True)
    x = torch.as_tensor(features).to(device, torch.float32)
    standardize = Standardizer.fit(x)
    x = standardize(x)  # drops the raw copy: at ImageNet size each is 4 GB

    def fit(x: torch.Tensor, y: np.ndarray, C: float, warm: LinearWeights | None) -> LinearWeights:
        y = torch.as_tensor(y, device=device)
        return torch_probe.fit_weights(x, y, classes.size, C, config.max_iter, warm)

    def score(weights: LinearWeights, x: torch.Tensor, y: np.ndarray) -> float:
        return torch_probe.accuracy(weights, x, torch.as_tensor(y, device=device))

    with torch_probe.torch_threads(config.threads):
        C, weights = _fit_with_C(x, indices, config, fit, score)
    return TorchProbe(standardize, weights, classes, float(C))


def resolve_backend(config: ProbeConfig) -> str:
    """The backend that fits: `config.backend`, with auto resolved (see ProbeConfig.backend)."""
    check_choice("ProbeConfig.backend", config.backend, PROBE_BACKENDS)
    if config.backend != "auto":
        return config.backend
    return "torch" if torch.cuda.is_available() else "sklearn"


def fit_linear_probe(
    features: ArrayLike, labels: ArrayLike, config: ProbeConfig | None = None
) -> Probe:
    """Standardize features (N, F) on the train split and fit logistic regression to labels (N,)
    with the configured backend: a `LinearProbe` (scikit-learn) or a `TorchProbe`."""
    config = config or ProbeConfig()
    y = as_numpy(labels)
    if len(features) != y.shape[0]:
        raise MMCLError(f"linear probe got {len(features)} feature rows for {y.shape[0]} labels")
    if np.unique(y).size < 2:
        raise MMCLError("linear probe needs at least two classes in the train labels")
    if config.C is None and not config.C_grid:
        raise MMCLError("ProbeConfig needs either a fixed C or a non-empty C_grid")
    if resolve_backend(config) == "torch":
        return _fit_torch(features, y, config)
    return _fit_sklearn(as_numpy(features), y, config)


def probe_correct(probe: Probe, features: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Per sample, whether the predicted label equals the true one."""
    y = as_numpy(labels)
    if y.shape[0] == 0:
        raise MMCLError("probe_accuracy got an empty split; check the test data")
    return probe.predict(features) == y


def probe_accuracy(probe: Probe, features: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of samples whose predicted label equals the true one."""
    return float(np.mean(probe_correct(probe, features, labels)))


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


@eval_task("linear_probe", needs=("fit_split",))
def score_linear_probe(ctx: EvalContext) -> Records:
    """One probe fitted on the train features, scored on every split."""
    ctx.progress("linear probe")
    train = ctx.train()
    # eval.probe_backend, once EvalData carries it (mmcl.eval.suite); until then the default.
    config = ProbeConfig(backend=ctx.data.probe_backend)
    probe = fit_linear_probe(train.features, train.labels, config)
    records = []
    for name, fs in ctx.tests.items():
        correct = probe_correct(probe, fs.features, fs.labels)
        records.append(ctx.record("linear_probe", name, "accuracy", float(np.mean(correct)),
                                  correct=pack_correct(correct)))  # fmt: skip
    return records
