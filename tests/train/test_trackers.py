"""`train.logger`: a tracker mirrors metrics.jsonl offline, gets the config and the final results
once, and a resumed run logs no step twice. Each tracker's files are read back with its own
reader (TensorBoard's EventAccumulator, MLflow's client, W&B's record protobufs)."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmcl.cli import main
from mmcl.config import config_hash, load_config, to_dict
from mmcl.errors import MMCLError
from mmcl.runs import door
from mmcl.runs.keys import run_key, train_key
from mmcl.train import metrics_log, trackers
from mmcl.train.config import RunConfig
from mmcl.train.metrics_log import MetricsLog, mirror_results, open_tracker, read_metrics
from mmcl.train.trackers import TRACKERS, Mirror, Tracker, result_scalars

from .runs import write_config

# The default config's (config_hash, run_key, train_key) before train.logger existed (7dd1982).
KEYS_BEFORE = ("b0848afd2ba9", "eff5e857505d", "5604506f0b10")
COMPARED = ("loss", "lr")  # the same in a resumed run; samples_per_s and train_s are timings


class Recorder(Tracker):
    """A tracker in memory: every call of every instance, in order."""

    package = "json"  # always importable
    calls: list[tuple[str, Any]] = []

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int | None) -> None:
        self.calls.append(("open", resume_step))

    def log(self, step: int, scalars: dict[str, float]) -> None:
        self.calls.append(("log", step))

    def log_results(self, step: int, scalars: dict[str, float]) -> None:
        self.calls.append(("results", sorted(scalars)))

    def close(self) -> None:
        self.calls.append(("close", None))


class Broken(Recorder):
    def log(self, step: int, scalars: dict[str, float]) -> None:
        raise ConnectionError("tracker server gone")


@pytest.fixture
def recorder() -> Iterator[list[tuple[str, Any]]]:
    TRACKERS.register("recorder")(Recorder)
    Recorder.calls = []
    yield Recorder.calls
    TRACKERS._entries.pop("recorder")


def test_the_logger_leaves_the_keys_of_earlier_runs_as_they_were(recorder):
    default = load_config(RunConfig, None, [])
    assert (config_hash(default), run_key(default), train_key(default)) == KEYS_BEFORE
    assert "logger" not in to_dict(default)["train"]  # written only when set
    watched = load_config(RunConfig, None, ["train.logger=recorder"])
    assert to_dict(watched)["train"]["logger"] == "recorder"
    assert train_key(watched) == train_key(default)  # how a run is watched: the same training
    assert run_key(watched) == run_key(default)  # a mirror of the scores: the same results


def test_a_tracker_not_installed_stops_training_in_one_line_but_not_loading(
    monkeypatch, tmp_path, tiny_overrides, capsys
):
    monkeypatch.setattr(TRACKERS.get("mlflow"), "package", "mmcl_absent_package")
    saved = load_config(RunConfig, None, ["train.logger=mlflow"])  # a run mirrored elsewhere
    assert saved.train.logger == "mlflow"
    config = write_config(tmp_path / "c.yaml", [*tiny_overrides, "train.logger=mlflow"])
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        'train.logger=mlflow needs mmcl_absent_package: pip install -e ".[mlflow]"'
    )
    assert not list((tmp_path / "runs").glob("*/checkpoints/*.pt"))  # stopped before a step
    with pytest.raises(MMCLError, match="'train.logger' = 'mlfow' is not valid; did you mean"):
        load_config(RunConfig, None, ["train.logger=mlfow"])


def test_a_resumed_log_skips_the_steps_its_tracker_holds(recorder, tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 7)))
    cfg = load_config(RunConfig, None, ["train.logger=recorder"])
    log = MetricsLog(path, 3, open_tracker(cfg, tmp_path, 3))  # cut at 6, resumed from 3
    for step in range(4, 8):
        log.log({"step": step, "loss": 0.5, "note": "text", "finite": True})
    log.close()
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3, 4, 5, 6, 7]
    assert recorder == [("open", 3), ("log", 7), ("close", None)]


def test_a_failing_tracker_costs_no_line_of_metrics_jsonl(tmp_path, caplog):
    log = MetricsLog(tmp_path / "metrics.jsonl", 0, Mirror("broken", Broken(tmp_path, {}, 0)))
    with caplog.at_level(logging.WARNING):
        for step in (1, 2, 3):
            log.log({"step": step, "loss": 1.0})
        log.close()
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "train.logger=broken failed (ConnectionError: tracker server gone); it gets nothing "
        "more, metrics.jsonl has it all"
    ]


def test_only_rank_0_mirrors_the_results(recorder, monkeypatch, tmp_path):
    cfg = load_config(RunConfig, None, ["train.logger=recorder"])
    monkeypatch.setattr(metrics_log.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(metrics_log.dist, "get_rank", lambda: 1)
    mirror_results(cfg, tmp_path, [_record("zeroshot", "id", "accuracy", 0.5)])
    assert recorder == []
    monkeypatch.setattr(metrics_log.dist, "get_rank", lambda: 0)
    mirror_results(cfg, tmp_path, [_record("zeroshot", "id", "accuracy", 0.5)])
    assert recorder == [("open", None), ("results", ["results/zeroshot/id/accuracy"]),
                        ("close", None)]  # fmt: skip


def _record(task: str, split: str, metric: str, value: float, **extra: Any) -> dict[str, Any]:
    return {"task": task, "split": split, "metric": metric, "value": value, "n_samples": 9,
            "correct": "AAA=", "weights": "abc", **extra}  # fmt: skip


def test_result_names_tell_apart_the_records_that_share_task_split_and_metric():
    records = [
        _record("zeroshot", "id", "accuracy", 0.5, correct="Bw=="),
        _record("attributes", "id", "accuracy", 0.25, attribute="color"),
        _record("attributes", "id", "accuracy", 0.75, attribute="shape", n_samples=3),
    ]
    assert result_scalars(records) == {
        "results/zeroshot/id/accuracy": 0.5,
        "results/attributes/id/color/accuracy": 0.25,
        "results/attributes/id/shape/accuracy": 0.75,
    }


# ---- each tracker through `mmcl train`, cut and resumed ------------------------------------


def _needs(extra: str) -> None:
    """Skip unless mmcl's extra of that name (whose module is named the same) is installed."""
    pytest.importorskip(extra, reason=f'train.logger={extra} needs pip install -e ".[{extra}]"')


def _cut_and_resumed(overrides: list[str], root: Path, logger: str) -> Path:
    """A run trained 6 steps by `mmcl train`, cut after it logged step 6 with its checkpoint at
    step 3 the last kept, then resumed by the door (steps 4-6 again) and scored."""
    config = write_config(root / f"{logger}.yaml", [*overrides, f"name={logger}",
                          f"train.logger={logger}", "eval.tasks=[zeroshot]",
                          "eval.splits=[id]"])  # fmt: skip
    assert main(["train", str(config), "--no-eval"]) == 0
    cfg = load_config(RunConfig, config)
    run = Path(cfg.out_dir) / logger
    for done in ("trained.json", "checkpoints/step_0000006.pt", "checkpoints/latest"):
        (run / done).unlink()
    door.scored(cfg, run)  # as a sweep does: resumes the cut training, scores it
    return run


def _logged(run: Path, key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in read_metrics(run / "metrics.jsonl") if key in r]


def _final(run: Path) -> dict[str, float]:
    return result_scalars(json.loads((run / "results.json").read_text())["records"])


def test_tensorboard_events_mirror_the_log_and_a_resume_purges_the_cut_steps(
    tiny_overrides, tmp_path
):
    _needs("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _cut_and_resumed(tiny_overrides, tmp_path, "tensorboard")
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()  # reads every events file; a purge drops steps >= 4 of the first one
    for key in COMPARED:
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        assert logged == [(s, pytest.approx(v, rel=1e-6)) for s, v in _logged(run, key)]
    assert "config/text_summary" in events.Tags()["tensors"]
    for key, value in _final(run).items():
        assert [(e.step, e.value) for e in events.Scalars(key)] == [(6, pytest.approx(value))]


def test_mlflow_file_store_mirrors_the_log_and_a_resume_adds_no_step(
    tiny_overrides, tmp_path, monkeypatch
):
    _needs("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = _cut_and_resumed(tiny_overrides, tmp_path, "mlflow")
    run_id = json.loads((run / trackers.IDS).read_text())["mlflow"]  # one run, resumed
    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    for key in COMPARED:
        logged = [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
        assert sorted(logged) == _logged(run, key)
    tracked = client.get_run(run_id)
    assert tracked.data.params["train.logger"] == "mlflow"
    assert tracked.data.params["train.steps"] == "6" and tracked.info.status == "FINISHED"
    for key, value in _final(run).items():
        assert [(m.step, m.value) for m in client.get_metric_history(run_id, key)] == [(6, value)]


def test_wandb_offline_files_mirror_the_log_and_a_resume_adds_no_step(
    tiny_overrides, tmp_path, monkeypatch
):
    _needs("wandb")
    for name in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = _cut_and_resumed(tiny_overrides, tmp_path, "wandb")
    # the cut run, the resumed one, the results: one W&B id (a folder started in the same
    # second as another gets a suffix, so folder names do not sort by time)
    files = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 3 and len({path.name for path in files}) == 1
    records = [record for path in files for record in wandb_records(path)]
    rows = sorted((_items(r.history.item) for r in records if r.HasField("history")),
                  key=lambda row: row["_step"])  # fmt: skip
    for key in COMPARED:
        assert [(row["_step"], row[key]) for row in rows if key in row] == _logged(run, key)
    config = [_items(r.run.config.update) for r in records if r.HasField("run")]
    assert [c["train"]["logger"] for c in config if "train" in c] == ["wandb"]  # once
    summary = {}
    for record in records:
        if record.HasField("summary"):
            summary |= _items(record.summary.update)
    assert all(summary[key] == pytest.approx(value) for key, value in _final(run).items())


def _items(items: Any) -> dict[str, Any]:
    """W&B's key/value_json items as a dict (nested keys joined with '/')."""
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def wandb_records(path: Path) -> Iterator[Any]:
    """The `Record` protobufs of a W&B `.wandb` file: a 7-byte header (`:W&B`, magic, version)
    and then LevelDB's log format, 32 KiB blocks of chunks, each a 7-byte header (crc32,
    length, kind: 1 full, 2 first, 3 middle, 4 last) and its bytes."""
    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    position, pending = 7, b""
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a header is padding
            position += block - position % block
            continue
        length, kind = struct.unpack("<HB", data[position + 4 : position + 7])
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record
