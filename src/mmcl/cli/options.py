"""Options that several subcommands share, spelled once."""

from __future__ import annotations

import argparse


def add_set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--set KEY=VALUE`, repeatable, collected in `args.overrides` (values may hold commas)."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_text
    )
