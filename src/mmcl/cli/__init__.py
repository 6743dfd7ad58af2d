"""The `mmcl` command: thin subcommands that parse, validate, and call the library.

Every user-facing error is an `MMCLError`, printed as one line that says what and how to fix,
never a traceback (set MMCL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mmcl import __version__
from mmcl.errors import MMCLError


def build_parser() -> argparse.ArgumentParser:
    from mmcl.cli import (
        data,
        demo,
        evaluate,
        report,
        repro,
        robustness,
        sweep,
        testbed,
        train,
    )

    parser = argparse.ArgumentParser(
        prog="mmcl", description="A lab for contrastive representation learning (CLIP, SimCLR)."
    )
    parser.add_argument("--version", action="version", version=f"mmcl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, train, evaluate, sweep, data, report, robustness, repro, testbed):
        module.register(subparsers)
    return parser


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except MMCLError as error:
        if os.environ.get("MMCL_DEBUG"):
            raise
        print(f"mmcl {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mmcl {args.command}: interrupted", file=sys.stderr)
        return 130
