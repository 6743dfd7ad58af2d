"""The `mmcl` command: thin subcommands that parse, validate, and call the library.

Every user-facing error is an `MMCLError`, printed as one line that says what and how to fix,
never a traceback (set MMCL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import typing

from mmcl import __version__
from mmcl.errors import MMCLError
from mmcl.io import output_folder
from mmcl.plugins import load_plugins
from mmcl.runs import teachers  # noqa: F401  (registers clip_run before configs are read)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like an MMCLError's, and still exit 2.

    The usage block argparse prints first runs to many lines for the larger commands and
    buries the one line that says what was wrong; `--help` still shows it.
    """

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from mmcl.cli import (
        data,
        demo,
        evaluate,
        export,
        report,
        repro,
        results,
        robustness,
        sweep,
        testbed,
        train,
    )

    parser = OneLineParser(
        prog="mmcl", description="A lab for contrastive representation learning (CLIP, SimCLR)."
    )
    parser.add_argument("--version", action="version", version=f"mmcl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (
        demo,
        train,
        evaluate,
        export,
        sweep,
        data,
        report,
        results,
        robustness,
        repro,
        testbed,
    ):
        module.register(subparsers)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv`, letting `key=value` overrides come after options too.

    argparse fills a command's positionals from the first run of them only, so in
    `mmcl train CFG --no-eval train.steps=9` the override would be "unrecognized"; leftover
    words that look like overrides are appended to the command's own `overrides` instead.
    """
    args, extra = parser.parse_known_args(argv)
    overrides = [item for item in extra if "=" in item and not item.startswith("-")]
    unknown = [item for item in extra if item not in overrides]
    if overrides and not hasattr(args, "overrides"):
        unknown = extra
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if overrides:
        args.overrides = [*(args.overrides or []), *overrides]
    return args


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def check_cache_env() -> None:
    """$MMCL_CACHE, when set, must name a folder (or one that can be made): a file there would
    fail deep inside whichever command first renders a world. Writability is not asked: a shared
    read-only cache of rendered worlds is a fair setup."""
    if os.environ.get("MMCL_CACHE"):  # empty means unset, as the cache itself reads it
        output_folder(os.environ["MMCL_CACHE"], "MMCL_CACHE", writable=False)


def error_line(error: Exception) -> str:
    """The one line printed for an error: an MMCLError's own message; an OSError the checks
    before compute could not foresee (a disk that fills, a mount that goes away) as its path
    and reason."""
    if isinstance(error, MMCLError):
        return str(error)
    where = f"{error.filename}: " if getattr(error, "filename", None) else ""
    reason = getattr(error, "strerror", None) or str(error)
    return f"{where}{reason} (set MMCL_DEBUG=1 for the traceback)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if args.command is None:
        parser.print_help()
        return 2
    setup_logging(args.verbose)
    try:
        check_cache_env()
        load_plugins()
        return int(args.func(args) or 0)
    except (MMCLError, OSError) as error:
        if os.environ.get("MMCL_DEBUG"):
            raise
        print(f"mmcl {args.command}: error: {error_line(error)}", file=sys.stderr)
        return getattr(error, "exit_code", 2)  # a stop signal's own code (train.preemption)
    except KeyboardInterrupt:
        print(f"mmcl {args.command}: interrupted", file=sys.stderr)
        return 130
