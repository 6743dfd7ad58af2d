"""Options that several subcommands share, spelled once, and the argparse `type=` checks that
refuse a bad value at parse time: a one-line usage error naming the flag, exit 2, before any
compute."""

from __future__ import annotations

import argparse
from collections.abc import Callable

SHOWN = 24  # characters of a refused value quoted back (a 5000-digit number is not echoed)


def add_set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--set KEY=VALUE`, repeatable, collected in `args.overrides` (values may hold commas)."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_text
    )


def _shown(text: str) -> str:
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "...")


def int_in(low: int, high: int) -> Callable[[str], int]:
    """`type=`: an integer in [low, high]. The upper bound keeps a huge value from reaching
    numpy or the allocator, where it would fail far from the flag that set it."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also a number past Python's digit limit
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{_shown(text)}: give an integer in [{low}, {high}]")
        return value

    return parse


def float_between(low: float, high: float) -> Callable[[str], float]:
    """`type=`: a number strictly between low and high (NaN and infinities are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low < value < high:
            raise argparse.ArgumentTypeError(
                f"{_shown(text)}: give a number between {low:g} and {high:g} (exclusive)"
            )
        return value

    return parse


def names(text: str) -> list[str]:
    """`type=`: comma-separated names, at least one (`--ood ''` would fit nothing)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: give at least one name (a,b,...)")
    return items


# Bounds shared by several commands' flags.
jobs = int_in(1, 256)  # processes training at a time: more than a machine has cores is a typo
bootstrap = int_in(0, 100_000)  # resamples x models floats must fit in memory; 1000 is the norm
