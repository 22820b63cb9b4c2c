"""The `machine-imagination` command: tools around the pipeline (`verify` for now)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="machine-imagination", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="re-check a results tree against its manifest.json")
    verify.add_argument("results", nargs="+", help="a results/<text> directory (holding manifest.json)")
    args = parser.parse_args(argv)

    if args.command == "verify":
        from .manifest import verify_manifest

        failed = False
        for root in args.results:
            problems = verify_manifest(root)
            failed |= bool(problems)
            print(f"{root}: " + ("OK, every file matches its manifest" if not problems else "MISMATCH"))
            for problem in problems:
                print(f"  {problem}")
        return 1 if failed else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
