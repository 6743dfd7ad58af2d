"""Runs side by side in spawned processes: results in call order, progress, errors surfaced."""

from __future__ import annotations

import pytest

from mmcl.processes import map_in_processes


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_follow_the_calls_and_every_run_is_reported(jobs):
    calls = [(k, 3) for k in range(6)]
    seen = []
    results = map_in_processes(pow, calls, jobs, lambda k, i, r: seen.append((k, i, r)))
    assert results == [k**3 for k in range(6)]
    assert [k for k, _, _ in seen] == list(range(1, 7))  # a running count
    assert sorted((i, r) for _, i, r in seen) == [(k, k**3) for k in range(6)]


def test_an_error_in_a_worker_reaches_the_caller():
    with pytest.raises(ValueError, match="invalid literal"):
        map_in_processes(int, [("12",), ("twelve",)], jobs=2)
