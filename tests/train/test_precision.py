"""`train.precision`: what `auto` picks for a device and a number of processes, and the warning
for bf16 on several CPU processes (which differ from one process by up to 0.012 in loss)."""

from __future__ import annotations

import logging

import pytest
import torch

from mmcl.train import precision
from mmcl.train.precision import resolve_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


@pytest.fixture
def bf16_faster(monkeypatch, caplog) -> list[str]:
    """Every device times bf16 as faster; the list records the devices that were timed.
    (Info lines are captured too, so "silently" means no line at all.)"""
    caplog.set_level(logging.INFO, logger="mmcl.train.precision")
    timed: list[str] = []

    def faster(device_type: str) -> bool:
        timed.append(device_type)
        return True

    monkeypatch.setattr(precision, "bf16_is_faster", faster)
    return timed


def test_auto_is_fp32_on_several_cpu_processes_untimed_and_says_why(bf16_faster, caplog):
    assert resolve_precision("auto", CPU, world_size=2) == "fp32"
    assert bf16_faster == []  # no timing: ranks timing apart could choose apart
    assert "would not match one process" in caplog.text


@pytest.mark.parametrize(("device", "world_size"), [(CPU, 1), (CUDA, 1), (CUDA, 4)])
def test_auto_is_bf16_where_faster_alone_or_on_gpus(bf16_faster, device, world_size, caplog):
    assert resolve_precision("auto", device, world_size) == "bf16"
    assert bf16_faster == [device.type]
    assert caplog.text == ""


def test_explicit_bf16_on_several_cpu_processes_is_kept_with_a_warning(bf16_faster, caplog):
    assert resolve_precision("bf16", CPU, world_size=2) == "bf16"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "differ from one process" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("choice", "device", "world_size"), [("fp32", CPU, 2), ("bf16", CPU, 1), ("bf16", CUDA, 2)]
)
def test_other_explicit_choices_pass_through_silently(
    bf16_faster, choice, device, world_size, caplog
):
    assert resolve_precision(choice, device, world_size) == choice
    assert bf16_faster == [] and caplog.text == ""
