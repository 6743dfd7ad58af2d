"""A run folder that protects itself: one writer at a time, a resume that survives a killed
run's leftovers (truncated checkpoint, stale temporaries, half-written metrics line), and write
errors that are one line naming the last intact checkpoint."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmcl.cli import main
from mmcl.config import load_config
from mmcl.errors import MMCLError
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig
from mmcl.train.distributed import setup_runtime
from mmcl.train.metrics_log import MetricsLog, read_metrics
from mmcl.train.run_folder import LOCK_NAME, locked_run_folder
from mmcl.train.trainer import Trainer

from .runs import spawn_mmcl, write_config

STEPS = 6  # checkpoints at 3 and 6 (tiny_overrides: checkpoint_every=3, keep 2)


def _metrics(run: Path) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in read_metrics(run / "metrics.jsonl")]


def _records(run: Path) -> list[tuple]:
    records = json.loads((run / "results.json").read_text())["records"]
    return [(r["task"], r["split"], r["metric"], r["value"]) for r in records]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, world_cache) -> Path:
    """One uninterrupted tiny CLIP run (steps 1..6, checkpoints 3 and 6, zero-shot results)."""
    from ..conftest import TINY

    root = tmp_path_factory.mktemp("finished")
    overrides = [*TINY, f"data.cache_dir={world_cache}", f"out_dir={root}", "name=straight"]
    config = write_config(root / "c.yaml", [*overrides, "eval.tasks=[zeroshot]"])
    assert main(["train", str(config)]) == 0
    return root / "straight"


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "copy", ignore=shutil.ignore_patterns(LOCK_NAME)))


# ---- resume after a killed run ------------------------------------------------------------
def test_truncated_latest_checkpoint_resumes_from_the_previous_one(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    latest = run / "checkpoints" / "step_0000006.pt"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    stale = run / "checkpoints" / ".step_0000009.pt.k3x9q1.tmp"  # a SIGKILLed atomic write
    stale.write_bytes(b"\0" * 1000)
    with (run / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 7, "loss": 1.2')  # a write cut short

    assert main(["train", "--resume", str(run)]) == 0

    assert _metrics(run) == _metrics(finished_run)
    assert [s for s, _ in _metrics(run)] == list(range(1, STEPS + 1))
    assert _records(run) == _records(finished_run)
    assert not stale.exists()
    assert ckpt.load_checkpoint(latest)["state"]["step"] == STEPS


def test_no_readable_checkpoint_is_one_line_and_keeps_the_metrics(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    for path in (run / "checkpoints").glob("step_*.pt"):
        path.write_bytes(b"PK\x03\x04 truncated")
    metrics = (run / "metrics.jsonl").read_text()

    assert main(["train", "--resume", str(run)]) == 2

    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert str(run / "checkpoints") in error and "step_0000003.pt" in error
    assert (run / "metrics.jsonl").read_text() == metrics


def test_resume_after_editing_config_yaml_names_the_changed_key(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.002", "lr: 0.001"))

    assert main(["train", "--resume", str(run)]) == 2

    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert "train.lr: 0.002 -> 0.001" in error and "different config" in error


def test_resume_of_a_checkpoint_from_before_a_config_key_existed(finished_run, tmp_path):
    """A key added by a newer mmcl (absent from the checkpoint) takes its default: no refusal."""
    run = _copy(finished_run, tmp_path)
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    payload = torch.load(latest, weights_only=False)
    del payload["config"]["eval"]["probe_backend"]
    torch.save(payload, latest)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("  probe_backend: auto\n", ""))

    assert main(["train", "--resume", str(run)]) == 0


def _tiny_checkpoints(folder: Path) -> None:
    for step in (3, 6):
        ckpt.save_checkpoint(folder, {"state": {"step": step}}, step, keep=2)


@pytest.mark.parametrize("damage", ["pointer deleted", "pointer names a missing file"])
def test_a_broken_latest_pointer_falls_back_to_the_newest_step_file(tmp_path, damage):
    _tiny_checkpoints(tmp_path)
    pointer = tmp_path / ckpt.LATEST
    if damage == "pointer deleted":
        pointer.unlink()
    else:
        pointer.write_text("step_0000009.pt\n")
    path, payload = ckpt.load_latest(tmp_path)
    assert path.name == "step_0000006.pt" and payload["state"]["step"] == 6


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    _tiny_checkpoints(tmp_path)
    (tmp_path / "step_0000006.pt").write_bytes(b"not a checkpoint")
    path, payload = ckpt.load_latest(tmp_path)
    assert path.name == "step_0000003.pt" and payload["state"]["step"] == 3


def test_a_resumed_run_drops_the_checkpoints_of_the_timeline_it_abandoned(tmp_path):
    _tiny_checkpoints(tmp_path)
    (tmp_path / "step_0000006.pt").write_bytes(b"not a checkpoint")
    ckpt.save_checkpoint(tmp_path, {"state": {"step": 4}}, 4, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step_*.pt")) == [
        "step_0000003.pt",
        "step_0000004.pt",
    ]


# ---- metrics.jsonl ------------------------------------------------------------------------
def test_a_half_written_last_metrics_line_is_dropped_on_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2, 3, 4)]
    path.write_text("\n".join(lines) + '\n{"step": 5, "lo')
    assert [m["step"] for m in read_metrics(path)] == [1, 2, 3, 4]
    MetricsLog(path, resume_step=3).close()
    assert [m["step"] for m in read_metrics(path)] == [1, 2, 3]


def test_a_broken_metrics_line_before_the_last_names_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, oops\n{"step": 3}\n')
    with pytest.raises(MMCLError, match=r"metrics\.jsonl:2 "):
        read_metrics(path)


# ---- precision ----------------------------------------------------------------------------
def test_the_precision_auto_chose_is_stored_and_reused_on_resume(
    finished_run, tmp_path, monkeypatch
):
    run = _copy(finished_run, tmp_path)
    chosen = ckpt.load_checkpoint(run / "checkpoints" / "step_0000006.pt")["precision"]
    other = {"bf16": "fp32", "fp32": "bf16"}[chosen]
    monkeypatch.setattr("mmcl.train.trainer.resolve_precision", lambda *_: other)
    cfg = load_config(RunConfig, run / "config.yaml")
    trainer = Trainer(cfg, run, setup_runtime("cpu"))
    assert trainer.precision == other and trainer.resume()
    assert trainer.precision == chosen


# ---- write errors -------------------------------------------------------------------------
def _disk_full(payload, handle) -> None:
    """What torch.save raises on ENOSPC: its zip writer's RuntimeError, the OSError as context."""
    handle.write(b"PK partial")
    try:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from None


def test_disk_full_during_a_checkpoint_write_names_the_last_intact_one(tmp_path, monkeypatch):
    _tiny_checkpoints(tmp_path)
    monkeypatch.setattr(torch, "save", lambda payload, handle: _disk_full(payload, handle))
    with pytest.raises(MMCLError) as error:
        ckpt.save_checkpoint(tmp_path, {"state": {"step": 9}}, 9, keep=2)
    message = str(error.value)
    assert "\n" not in message
    assert "step_0000009.pt" in message and os.strerror(errno.ENOSPC) in message
    assert f"last intact checkpoint is {tmp_path / 'step_0000006.pt'}" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latest",
        "step_0000003.pt",
        "step_0000006.pt",
    ]


def test_out_dir_that_is_a_file_is_one_line(tiny_overrides, tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    config = write_config(tmp_path / "c.yaml", [*tiny_overrides, f"out_dir={blocker}"])
    assert main(["train", str(config)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"{blocker} is a file" in error, error


def test_a_read_only_run_folder_is_one_line(tiny_overrides, tmp_path, capsys, monkeypatch):
    run = tmp_path / "runs" / "ro"
    run.mkdir(parents=True)
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(run)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    config = write_config(tmp_path / "c.yaml", [*tiny_overrides, "name=ro"])
    assert main(["train", str(config)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(run) in error, error
    assert os.strerror(errno.EROFS) in error


# ---- Ctrl-C during a save -----------------------------------------------------------------
def test_ctrl_c_during_a_checkpoint_write_finishes_it_then_stops(tmp_path, monkeypatch):
    real_save = torch.save

    def interrupted(payload, handle) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # delivered in the middle of the write below
        real_save(payload, handle)

    _tiny_checkpoints(tmp_path)
    monkeypatch.setattr(torch, "save", interrupted)
    payload = {"state": {"step": 9}, "w": torch.randn(512, 512)}
    # Python's own Ctrl-C handler, as in a terminal: a shell's background job (CI) inherits
    # SIGINT ignored, and an ignored signal is left ignored by the save.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            ckpt.save_checkpoint(tmp_path, payload, 9, keep=2)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latest",
        "step_0000006.pt",
        "step_0000009.pt",
    ]  # written, pointed at and pruned
    assert (tmp_path / ckpt.LATEST).read_text() == "step_0000009.pt\n"
    assert torch.equal(ckpt.load_checkpoint(tmp_path / "step_0000009.pt")["w"], payload["w"])


# ---- the lock -----------------------------------------------------------------------------
HOLD_LOCK = """
import sys, time
from pathlib import Path
from mmcl.train.run_folder import locked_run_folder
with locked_run_folder(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_held_lock_refuses_and_a_killed_holders_lock_is_taken_over(tmp_path, caplog):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = rf"{re.escape(str(run))} is in use .*pid {holder.pid} "
        with pytest.raises(MMCLError, match=busy), locked_run_folder(run):
            pass
    finally:
        holder.kill()
        holder.wait()
    with caplog.at_level(logging.WARNING), locked_run_folder(run):
        pass
    assert "stale lock" in caplog.text and f"pid {holder.pid}" in caplog.text


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.slow  # ~20 s alone, ~50 s on a loaded machine
def test_two_concurrent_trains_into_one_folder(tiny_overrides, tmp_path):
    steps = 200
    overrides = [
        *tiny_overrides,
        "name=busy",
        f"train.steps={steps}",
        "train.checkpoint_every=50",
        "eval.tasks=[zeroshot]",
    ]
    config = write_config(tmp_path / "c.yaml", overrides)
    run = tmp_path / "runs" / "busy"
    first = spawn_mmcl("train", str(config))
    first_cpu = _children_cpu_seconds()  # of children already reaped: not `first`
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() and first.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)

    second = spawn_mmcl("train", str(config))
    output, _ = second.communicate(timeout=300)
    assert first.poll() is None, "the first run ended before the second tried: lengthen it"
    assert second.returncode == 2, output
    assert f"pid {first.pid}" in output and "Traceback" not in output
    # within seconds: it stops after its imports, before loading data; CPU time, not wall
    # time, so that a loaded test machine does not make it look slow
    assert _children_cpu_seconds() - first_cpu < 15

    first_output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, first_output
    assert [s for s, _ in _metrics(run)] == list(range(1, steps + 1))
    assert (run / "results.json").is_file()
