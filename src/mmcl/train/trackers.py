"""Mirrors of `metrics.jsonl` in an experiment tracker: `train.logger=tensorboard|mlflow|wandb`.

`metrics.jsonl` stays the record a run is read from (reports, resume); the tracker gets the same
scalars at the same steps, the run's config once as its parameters, and the final results once
(`mirror_results`, which the door calls after writing `results.json`). Each works with no
server: TensorBoard event files in `RUN/tensorboard`; MLflow in the file store `RUN/mlruns`
unless `MLFLOW_TRACKING_URI` names another store; W&B in offline mode under `RUN/wandb` unless
`WANDB_MODE` is set (`wandb sync RUN/wandb/offline-run-*` uploads it later).

A resumed training logs to the same tracker run (its id is kept in `RUN/tracker.json`) and no
step lands there twice: TensorBoard drops the events after the checkpoint resumed from
(`purge_step`) and gets those steps again; MLflow and W&B, which cannot drop a logged value,
skip the steps the cut run had logged (a resume replays the same numbers; only the timing
fields differ).

A tracker is a mirror: one that fails (a full disk, an unreachable server) is dropped with a
warning and the run goes on writing `metrics.jsonl`. Only rank 0 logs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mmcl.config import check_choice
from mmcl.errors import MMCLError
from mmcl.eval.tasks import CORRECT_KEY
from mmcl.io import atomic_write_json
from mmcl.registry import Registry

log = logging.getLogger(__name__)

NONE = "none"  # train.logger's default: metrics.jsonl alone
IDS = "tracker.json"  # the run folder's tracker run ids, by tracker name
PARAM_CHARS = 500  # MLflow 2.0's limit on a parameter's value; config.yaml holds the whole value
# Record fields that are a result's payload, not what names it (`result_scalars`).
PAYLOAD = frozenset({"value", "n_samples", CORRECT_KEY})


class Tracker(ABC):
    """One run in an experiment tracker, opened for a training run's folder with the run's
    config as it is saved (`mmcl.config.to_dict`).

    `resume_step`: 0 starts a new tracker run (and logs the config as its parameters), a
    checkpoint's step reopens the run's tracker run to continue a resumed training, None
    reopens it to add the final results. `replays`: a resumed training logs again the steps
    after its checkpoint (the tracker dropped them) instead of skipping those it holds.
    """

    package: ClassVar[str]  # the module that must import; also the name of mmcl's extra
    replays: ClassVar[bool] = False

    @abstractmethod
    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int | None) -> None:
        """Open (or reopen) the tracker run; see the class."""

    @abstractmethod
    def log(self, step: int, scalars: dict[str, float]) -> None:
        """Scalars of one `metrics.jsonl` record, at its step."""

    def log_results(self, step: int, scalars: dict[str, float]) -> None:
        """The final results; logged as scalars at the last step unless a tracker has a place
        for final values."""
        self.log(step, scalars)

    @abstractmethod
    def close(self) -> None:
        """Flush and end the tracker run (a later resume reopens it)."""


TRACKERS: Registry[type[Tracker]] = Registry("tracker")


def check_logger(name: str) -> None:
    """`train.logger` names a registered tracker (or `none`). Whether its package is installed
    is asked only where a run trains (`require_tracker`): a saved run that was mirrored to W&B
    still loads, is scored and reported on a machine without wandb."""
    check_choice("train.logger", name, (NONE, *TRACKERS.names()))


def require_tracker(name: str) -> None:
    """The package of tracker `name` is installed: one line naming the extra otherwise."""
    if name == NONE:
        return
    package = TRACKERS.get(name).package
    if importlib.util.find_spec(package) is None:  # a lookup: importing mlflow takes seconds
        raise MMCLError(f'train.logger={name} needs {package}: pip install -e ".[{name}]"')


def stored_id(run_dir: Path, name: str) -> str | None:
    """The id of the tracker run `name` keeps for this run folder, None before the first."""
    path = run_dir / IDS
    ids = json.loads(path.read_text()) if path.is_file() else {}
    return ids.get(name)


def store_id(run_dir: Path, name: str, run_id: str) -> None:
    path = run_dir / IDS
    ids = json.loads(path.read_text()) if path.is_file() else {}
    atomic_write_json(path, {**ids, name: run_id})


def flat_params(config: dict[str, Any]) -> dict[str, str]:
    """The config as `section.key -> value` text, for trackers whose parameters are flat."""
    flat: dict[str, str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = str(value)[:PARAM_CHARS]

    walk(config, "")
    return flat


@TRACKERS.register("tensorboard")
class TensorBoard(Tracker):
    """Event files in `RUN/tensorboard`, written by torch's `SummaryWriter`."""

    package = "tensorboard"
    replays = True

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: readers drop the events a cut run wrote from that step on
        purge = None if resume_step is None else resume_step + 1
        self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        if resume_step == 0:  # YAML as a Markdown code block: TensorBoard renders text as Markdown
            text = yaml.safe_dump(config, sort_keys=False)
            self.writer.add_text("config", "".join(f"    {line}\n" for line in text.split("\n")))

    def log(self, step: int, scalars: dict[str, float]) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


@TRACKERS.register("mlflow")
class MLflow(Tracker):
    """A run of experiment `$MLFLOW_EXPERIMENT_NAME` (default `mmcl`) in the file store
    `RUN/mlruns`, or in the store `$MLFLOW_TRACKING_URI` names."""

    package = "mlflow"

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int | None) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # MLflow 3 keeps its file store only for those who opt in
            uri = (run_dir / "mlruns").resolve().as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        self.run_id = stored_id(run_dir, "mlflow") if resume_step != 0 else None
        if self.run_id is not None:
            self.client.update_run(self.run_id, status="RUNNING")
            return
        experiment = self._experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "mmcl"))
        self.run_id = self.client.create_run(experiment, run_name=config["name"]).info.run_id
        store_id(run_dir, "mlflow", self.run_id)
        params = [Param(key, value) for key, value in flat_params(config).items()]
        for start in range(0, len(params), 100):  # log_batch takes 100 parameters at a time
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def _experiment(self, name: str) -> str:
        """The id of experiment `name`, made when missing (by this run or, on a shared server,
        by a run starting beside it)."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(name)
            except MlflowException:  # another run made it between the two calls
                found = self.client.get_experiment_by_name(name)
        return found.experiment_id

    def log(self, step: int, scalars: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in scalars.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


@TRACKERS.register("wandb")
class WandB(Tracker):
    """A W&B run of project `$WANDB_PROJECT` (default `mmcl`) under `RUN/wandb`, offline unless
    `WANDB_MODE` says otherwise."""

    package = "wandb"

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int | None) -> None:
        import wandb

        run_id = stored_id(run_dir, "wandb") if resume_step != 0 else None
        fresh = run_id is None
        if fresh:
            run_id = uuid.uuid4().hex[:16]  # W&B ids are [a-z0-9]; a new one per fresh run
            store_id(run_dir, "wandb", run_id)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "mmcl"),
            name=config["name"],
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            mode=None if "WANDB_MODE" in os.environ else "offline",
            config=config if fresh else None,
        )

    def log(self, step: int, scalars: dict[str, float]) -> None:
        self.run.log(scalars, step=step)

    def log_results(self, step: int, scalars: dict[str, float]) -> None:
        self.run.summary.update(scalars)  # W&B's place for a run's final values

    def close(self) -> None:
        self.run.finish()


class Mirror:
    """A tracker behind `metrics.jsonl`: it gets each record after the file did, skips steps
    through `skip_through` (those a cut run logged already), and is dropped with a warning when
    it fails, so a tracker never stops a run nor costs it a line of `metrics.jsonl`."""

    def __init__(self, name: str, tracker: Tracker, skip_through: int = 0) -> None:
        self.name, self.skip_through = name, skip_through
        self.tracker: Tracker | None = tracker

    def log(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        if self.tracker is not None and step > self.skip_through:
            scalars = {k: float(v) for k, v in record.items() if k != "step" and _scalar(v)}
            self._guarded(lambda tracker: tracker.log(step, scalars))

    def log_results(self, step: int, scalars: dict[str, float]) -> None:
        self._guarded(lambda tracker: tracker.log_results(step, scalars))

    def close(self) -> None:
        self._guarded(lambda tracker: tracker.close())
        self.tracker = None

    def _guarded(self, call: Callable[[Tracker], None]) -> None:
        if self.tracker is None:
            return
        try:
            call(self.tracker)
        except Exception as error:  # any tracker's own error type: the run must go on
            self.tracker = None
            log.warning(
                "train.logger=%s failed (%s: %s); it gets nothing more, metrics.jsonl has it all",
                self.name,
                type(error).__name__,
                error,
            )


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def open_mirror(
    name: str, run_dir: Path, config: dict[str, Any], resume_step: int | None, logged: int = 0
) -> Mirror | None:
    """Tracker `name` (`train.logger`) opened for `run_dir` (see `Tracker`) behind a `Mirror`
    that skips steps through `logged`, the last step a cut run logged, unless the tracker
    replays them; None for `none`, or, with a warning, when the tracker cannot start."""
    if name == NONE:
        return None
    kind = TRACKERS.get(name)
    try:
        tracker = kind(run_dir, config, resume_step)
    except Exception as error:  # as in `Mirror._guarded`: a tracker never stops a run
        log.warning("train.logger=%s could not start (%s: %s)", name, type(error).__name__, error)
        return None
    resumed = resume_step or 0
    return Mirror(name, tracker, resumed if kind.replays else max(resumed, logged))


def result_scalars(records: list[dict[str, Any]]) -> dict[str, float]:
    """`results/<task>/<split>/<metric>` -> value for each record; where records share those,
    the fields they differ in are named too (`results/attributes/id/color/accuracy`)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["task"], record["split"], record["metric"]].append(record)
    scalars = {}
    for (task, split, metric), group in groups.items():
        fields = sorted(set().union(*group) - PAYLOAD)
        apart = [k for k in fields if len({str(r.get(k)) for r in group}) > 1]
        for record in group:
            named = [str(record.get(k)) for k in apart]
            scalars["/".join(["results", task, split, *named, metric])] = float(record["value"])
    return scalars
