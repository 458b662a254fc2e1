"""``python -m adapters.k8s.crds [--check] [DIR]``: regenerate ``deploy/crds`` from the declarations.

``--check`` writes nothing and exits 1 if the files differ from a fresh render (for CI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adapters.k8s.crds import generating


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters.k8s.crds", description=__doc__)
    parser.add_argument("directory", nargs="?", type=Path, default=generating.DEPLOY_DIR)
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    if args.check:
        stale = generating.out_of_date(directory)
        for name in stale:
            print(f"out of date: {directory / name}", file=sys.stderr)
        return 1 if stale else 0
    for path in generating.write(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
