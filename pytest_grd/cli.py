"""The ``grd`` command."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grd", description="pytest-grd project tools")
    parser.parse_args(argv)
    return 0
