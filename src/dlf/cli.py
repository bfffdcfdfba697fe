"""The `dlf` command."""

import argparse
import sys

from dlf.core.errors import DlfError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlf", description="deep learning foundations")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_subparsers(dest="command", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except DlfError as e:
        if args.debug:
            raise
        print(f"dlf: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
