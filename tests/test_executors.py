"""Executors (`mmcl.runs.executors`): a sweep's runs give the same records on local processes,
a real local Ray head (its node on 127.0.0.1) and submitit's local processes; a killed worker or
a failed job is retried and resumes; a run that fails for good is one MMCLError naming it and
its log."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from mmcl.cli import main
from mmcl.errors import MMCLError
from mmcl.experiments import sweep
from mmcl.runs import executors
from mmcl.runs.executors import executor_config, map_runs, slurm_engine, using_executor
from mmcl.runs.executors import local as local_engine

from .conftest import TINY

REPO = Path(__file__).parents[1]
CONFIG = REPO / "configs" / "clip_shapes.yaml"
GRID = ["train.lr=0.001", "seeds=0,1"]  # two runs, trained two at a time
RUN = ["eval.tasks=[zeroshot]", "train.steps=4", "train.checkpoint_every=2"]

try:
    import ray
except ImportError:
    ray = None
try:
    import submitit
except ImportError:
    submitit = None
needs_ray = pytest.mark.skipif(ray is None, reason='ray is not installed (pip install -e ".[ray]")')
needs_submitit = pytest.mark.skipif(
    submitit is None, reason='submitit is not installed (pip install -e ".[slurm]")'
)


# --- run functions the executors are handed (module-level: workers import them) ------------


def fail_until(marker: str, failures: int, value: int) -> int:
    """Raise on the first `failures` calls (counted in the file `marker`), then return `value`."""
    path = Path(marker)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < failures:
        raise ValueError(f"planned failure {count + 1} of {failures}")
    return value


def killed_after_first_checkpoint(marker: str, run: sweep.SweepRun) -> None:
    """The first time: train until the first checkpoint is written, then SIGKILL this very
    process (its worker dies mid-run); afterwards: train normally (resuming from it)."""
    if not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        from mmcl.train import checkpoint

        save = checkpoint.save_checkpoint

        def save_then_die(*args, **kwargs):
            save(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)

        checkpoint.save_checkpoint = save_then_die
    sweep.train_and_evaluate(run)


# --- the sweep and its records ------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_overrides(world_cache: str) -> list[str]:
    keep = [o for o in TINY if not o.startswith(("eval.tasks=", "train.steps="))]
    return [*keep, *RUN, f"data.cache_dir={world_cache}"]


@pytest.fixture
def importable(monkeypatch):
    """Spawned workers (Ray's, submitit's) import this module by name from the repository."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def records(out: Path) -> list[list[dict]]:
    """Every run's results.json records (values and per-sample fields), in run order."""
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    return [
        json.loads((Path(run["run_dir"]) / sweep.RESULTS).read_text())["records"] for run in runs
    ]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Sweeps write to the relative folder `sweep`, as `mmcl sweep --out sweep` would: a
    record's config hash includes the run's folder, so equal folders give equal records."""
    monkeypatch.chdir(tmp_path)
    return Path("sweep")


@pytest.fixture(scope="module")
def local_records(tmp_path_factory, sweep_overrides) -> list[list[dict]]:
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("local"))
    try:
        sweep.run_sweep(CONFIG, GRID, "sweep", sweep_overrides, jobs=1)  # in this process
        return records(Path("sweep"))
    finally:
        os.chdir(here)


def test_the_sweep_opens_its_runs_through_the_current_executor():
    assert sweep.map_runs is map_runs  # otherwise the checks below would all run locally


@needs_ray
def test_a_sweep_on_a_local_ray_head_gives_the_local_records(
    in_tmp, sweep_overrides, local_records, importable
):
    out = in_tmp
    with using_executor(executor_config("ray")):  # starts a Ray here, then stops it
        result = sweep.run_sweep(CONFIG, GRID, out, sweep_overrides, jobs=2)
    assert len(result["trained"]) == 2 and not ray.is_initialized()
    assert records(out) == local_records


@needs_submitit
def test_a_sweep_on_submitit_local_processes_gives_the_local_records(
    in_tmp, tmp_path, sweep_overrides, local_records, importable
):
    out = in_tmp
    options = {"cluster": "local", "folder": str(tmp_path / "submitit")}
    with using_executor(executor_config("slurm", options)):
        result = sweep.run_sweep(CONFIG, GRID, out, sweep_overrides, jobs=2)
    assert len(result["trained"]) == 2
    assert records(out) == local_records
    assert list((tmp_path / "submitit").glob("*_0_log.err"))  # the jobs' logs are where it says


@pytest.mark.slow
@needs_ray
def test_a_killed_ray_worker_is_retried_and_resumes_to_the_same_records(
    in_tmp, tmp_path, sweep_overrides, local_records, importable
):
    out = in_tmp
    axes, seeds = sweep.parse_grid(GRID)
    runs = sweep.plan(CONFIG, axes, seeds, out, sweep_overrides)
    marker, spared = tmp_path / "killed", tmp_path / "spared"
    spared.write_text("")  # the second run is not killed
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        with using_executor(executor_config("ray", {"max_retries": 1})):
            calls = [(str(marker), runs[0]), (str(spared), runs[1])]
            map_runs(killed_after_first_checkpoint, calls, 2)
        with pytest.raises(ProcessLookupError):  # the first try's worker died (Ray keeps the rest)
            os.kill(int(marker.read_text()), 0)
    finally:
        ray.shutdown()
    sweep.run_sweep(CONFIG, GRID, out, sweep_overrides, jobs=1)  # trains nothing: aggregates
    assert records(out) == local_records


@pytest.mark.slow
@needs_submitit
def test_a_failed_submitit_job_is_resubmitted_and_a_lasting_failure_names_its_log(
    tmp_path, importable
):
    options = {"cluster": "local", "folder": str(tmp_path / "jobs"), "max_retries": 1}
    with using_executor(executor_config("slurm", options)):
        assert map_runs(fail_until, [(str(tmp_path / "once"), 1, 7)], 1) == [7]
        with pytest.raises(MMCLError) as error:
            map_runs(fail_until, [(str(tmp_path / "always"), 9, 0)], 1)
    message = str(error.value)
    assert "\n" not in message and message.startswith("run 0 (fail_until) failed: ValueError")
    assert "planned failure 2 of 9" in message and str(tmp_path / "jobs") in message
    assert (tmp_path / "always").read_text() == "2"  # one try and one resubmission


@needs_submitit
def test_retries_and_a_lasting_failure_on_submitit_in_process(tmp_path):
    """submitit's debug cluster (in this process): the driver's retry and error logic, fast."""
    options = {"cluster": "debug", "folder": str(tmp_path / "jobs"), "max_retries": 2}
    done = []
    calls = [(str(tmp_path / "a"), 0, 1), (str(tmp_path / "b"), 2, 2), (str(tmp_path / "c"), 5, 3)]
    with using_executor(executor_config("slurm", options)):
        with pytest.raises(MMCLError) as error:
            map_runs(fail_until, calls, 2, lambda count, index, result: done.append(index))
        tries = [(tmp_path / name).read_text() for name in "abc"]
        assert map_runs(fail_until, calls[:2], 2) == [1, 2]  # the finished runs' results
    assert tries == ["1", "3", "3"]  # b succeeded on its 2nd retry; c failed thrice
    assert sorted(done) == [0, 1]  # on_done fired for each run that finished
    message = str(error.value)
    assert message.startswith("run 2 (fail_until) failed: ValueError: planned failure 3 of 5")
    assert message.endswith("; log: this process's stderr (cluster=debug)")


@pytest.mark.slow
@needs_ray
def test_ray_names_the_run_its_error_and_the_worker_log(tmp_path):
    ray.init(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        with using_executor("ray"), pytest.raises(MMCLError) as error:
            map_runs(fail_until, [(str(tmp_path / "x"), 1, 0)], 1)
    finally:
        ray.shutdown()
    message = str(error.value)
    assert message.startswith("run 0 (fail_until) failed: ValueError: planned failure 1 of 1")
    assert re.search(r"; log: /\S+/logs/worker-\*-\d+\.err on \S+$", message), message
    assert (tmp_path / "x").read_text() == "1"  # the run's own error is not retried


# --- naming, options and the optional packages ---------------------------------------------


def test_a_failed_sweep_run_is_named_by_its_config_hash_and_folder(tmp_path):
    (run,) = sweep.plan(CONFIG, [], (0,), tmp_path)
    text = executors.describe_call(sweep.train_and_evaluate, 4, (run,))
    assert text == (
        f"run 4 (train_and_evaluate, config {sweep.config_hash(run.cfg)}, {run.run_dir})"
    )
    assert executors.describe_call(fail_until, 1, ("m", 1, 2)) == "run 1 (fail_until)"


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("rey", {}, "unknown executor 'rey'; did you mean 'ray'?"),
        ("ray", {"adress": "auto"}, "did you mean 'address'?"),
        ("ray", {"num_cpus": 0}, "'num_cpus' = 0 is out of range"),
        ("slurm", {"cluster": "lokal"}, "did you mean 'local'?"),
        ("slurm", {"time_min": "soon"}, "'time_min' must be a number"),
        ("local", {"address": "auto"}, "the local executor takes no options"),
    ],
)
def test_bad_executor_settings_are_one_line_errors(name, settings, message):
    with pytest.raises(MMCLError, match=message.replace("(", r"\(").replace("?", r"\?")):
        executor_config(name, settings)


def test_options_are_coerced_and_the_default_is_local():
    settings = {"partition": "gpu", "time_min": 30, "mem_gb": 8, "cluster": "local"}
    config = executor_config("slurm", settings)
    assert (config.options.partition, config.options.time_min, config.options.mem_gb) == (
        "gpu",
        30,
        8.0,
    )
    assert executors.current_executor().name == "local"
    chosen = executor_config("local")  # entering a slurm or ray block needs its package
    with using_executor(chosen):
        assert executors.current_executor() is chosen
    assert executors.current_executor().name == "local"


@pytest.mark.parametrize(
    ("name", "settings", "module"),
    [("ray", {}, "ray"), ("slurm", {"cluster": "local"}, "submitit")],
)
def test_a_missing_engine_names_its_extra_in_one_line(monkeypatch, name, settings, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    config = executor_config(name, settings)
    with pytest.raises(MMCLError) as error, using_executor(config):
        pass  # refused on entry, before any run
    assert str(error.value) == (
        f'the {name} executor needs the {module} package: pip install -e ".[{name}]"'
    )


def test_local_is_map_in_processes_unchanged(monkeypatch):
    seen = []
    monkeypatch.setattr(local_engine, "map_in_processes", lambda *a: seen.append(a) or ["r"])
    on_done = print
    assert map_runs(fail_until, [("m", 0, 1)], 3, on_done) == ["r"]
    assert seen == [(fail_until, [("m", 0, 1)], 3, on_done)]


# --- the command line ------------------------------------------------------------------------


@needs_submitit
def test_mmcl_sweep_runs_on_the_executor_its_flags_name(
    in_tmp, tmp_path, sweep_overrides, local_records, capsys, monkeypatch
):
    ran = []
    run_quietly = executors.run_quietly
    monkeypatch.setattr(
        slurm_engine, "run_quietly", lambda *a, **k: ran.append(a) or run_quietly(*a, **k)
    )
    sets = [arg for override in sweep_overrides for arg in ("--set", override)]
    flags = ["--executor", "slurm", "--executor-set", "cluster=debug"]
    flags += ["--executor-set", f"folder={tmp_path / 'jobs'}"]  # debug: jobs run in this process
    assert main(["sweep", str(CONFIG), *GRID, *sets, "--out", str(in_tmp), *flags]) == 0
    assert "2 runs (2 trained now" in capsys.readouterr().out
    assert records(in_tmp) == local_records
    assert len(ran) == 2  # submitit's (debug) jobs ran both runs


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--executor", "rey"], "--executor rey: unknown executor 'rey'; did you mean 'ray'?"),
        (
            ["--executor", "ray", "--executor-set", "adress=auto"],
            "--executor-set (for --executor ray): unknown config key 'adress'; did you mean "
            "'address'?",
        ),
        (
            ["--executor-set", "partition=gpu"],
            "--executor-set (for --executor local): the local executor takes no options",
        ),
        (["--executor", "slurm", "--executor-set", "time_min=-1"], "'time_min' = -1 is out of"),
    ],
)
def test_bad_executor_flags_are_one_line_errors_before_any_run(tmp_path, capsys, flags, message):
    out = tmp_path / "sweep"
    assert main(["sweep", str(CONFIG), "train.steps=1", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (out / "runs").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["sweep", str(CONFIG), "train.steps=1"],
        ["repro", "xue2024"],
        ["demo"],
        ["testbed", "shapes"],
    ],
)
def test_every_many_run_command_takes_the_executor_flags(command, capsys):
    with pytest.raises(SystemExit) as stop:  # a usage error, at parse time
        main([*command, "--executor-set", "partition"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "'partition': write KEY=VALUE, e.g. --executor-set address=auto" in err
