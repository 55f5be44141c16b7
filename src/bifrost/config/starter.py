"""`bifrost init [PATH]`: write the packaged, commented starter config (it passes `bifrost check` as written)."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.resources import files

STARTER_CONFIG = files("bifrost") / "examples" / "starter.config.json"


def starter_text() -> str:
    return STARTER_CONFIG.read_text(encoding="utf-8")


def run_init(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bifrost init", description="Write a commented starter config.json.")
    p.add_argument("path", nargs="?", default=os.environ.get("BIFROST_CONFIG", "./config.json"))
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = p.parse_args(argv)
    if os.path.exists(args.path) and not args.force:
        print(f"error: {args.path} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    try:
        with open(args.path, "w", encoding="utf-8") as fh:
            fh.write(starter_text())
    except OSError as exc:
        print(f"error: cannot write {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.path}\n"
        "next: export OPENAI_API_KEY=... (and/or ANTHROPIC_API_KEY=...), then\n"
        f"  bifrost check --config {args.path}\n"
        f"  bifrost --config {args.path}"
    )
    return 0
