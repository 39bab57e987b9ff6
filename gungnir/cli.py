"""The ``gungnir`` command line.

Each subcommand lives in the module that owns its logic; this file only parses arguments and
dispatches, importing lazily so ``gungnir --help`` stays fast and a subcommand's heavy imports
(z3, kubernetes) are paid only by that subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gungnir import __version__


def _cmd_demo(args: argparse.Namespace) -> int:
    from gungnir.demo import main as demo_main

    return int(demo_main(replicas=args.replicas, verbose=args.verbose))


def _cmd_verify(args: argparse.Namespace) -> int:
    from gungnir.verify.cli import main as verify_main

    return int(verify_main(list(args.rest)))


def _cmd_migrate_sentinel(args: argparse.Namespace) -> int:
    from gungnir.migrate import main as migrate_main

    return int(migrate_main(list(args.rest)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gungnir",
        description="High availability for Valkey: a verified replacement for Sentinel.",
    )
    parser.add_argument("--version", action="version", version=f"gungnir {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="start a local Valkey group and show it working")
    demo.add_argument("--replicas", type=int, default=2, help="number of replicas (default 2)")
    demo.add_argument("--verbose", "-v", action="store_true", help="show the daemons' logs")
    demo.set_defaults(func=_cmd_demo)

    from gungnir.runtime.commands import add_parsers

    add_parsers(sub)

    verify = sub.add_parser(
        "verify",
        help="run the model checker over the failover core",
        add_help=False,
    )
    verify.add_argument("rest", nargs=argparse.REMAINDER)
    verify.set_defaults(func=_cmd_verify)

    migrate = sub.add_parser(
        "migrate-sentinel",
        help="write the Gungnir configuration equivalent to sentinel.conf files",
        add_help=False,
    )
    migrate.add_argument("rest", nargs=argparse.REMAINDER)
    migrate.set_defaults(func=_cmd_migrate_sentinel)
    return parser


#: Subcommands that parse their own arguments: everything after the name is theirs, options
#: such as ``--help`` included (argparse's REMAINDER would not pass a leading option on).
PASSTHROUGH = {"verify": _cmd_verify, "migrate-sentinel": _cmd_migrate_sentinel}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in PASSTHROUGH:
        return PASSTHROUGH[args_list[0]](argparse.Namespace(rest=args_list[1:]))
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
