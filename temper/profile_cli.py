"""``temper profile``: list and show the builtin Workload Profiles, lint profile files.

    temper profile list
    temper profile show NAME
    temper profile lint FILE [FILE...]     exit 1 and FILE:LINE: message for each problem

Training (``temper profile train``) is not built yet; see docs/profiles.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from temper.profiles.builtins import builtin_profiles
from temper.profiles.model import ProfileErrors, parse_profile, to_yaml


def _list() -> int:
    profiles = builtin_profiles()
    print(f"{'name':<12}{'version':>8}  {'groups':<6}  images")
    for name, profile in sorted(profiles.items()):
        print(f"{name:<12}{profile.version:>8}  {len(profile.groups):<6}  {', '.join(profile.images)}")
    return 0


def _show(name: str) -> int:
    profiles = builtin_profiles()
    if name not in profiles:
        print(f"temper profile: no builtin profile {name!r} (have: {', '.join(sorted(profiles))})",
              file=sys.stderr)
        return 2
    sys.stdout.write(to_yaml(profiles[name]))
    return 0


def _lint(files: list[str]) -> int:
    status = 0
    for path in files:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            status = 1
            continue
        try:
            profile = parse_profile(text)
        except ProfileErrors as exc:
            for error in exc.errors:
                print(f"{path}:{error.line}: {error.message}")
            status = 1
            continue
        print(f"{path}: ok ({profile.name} v{profile.version}, {len(profile.groups)} groups)")
    return status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="temper profile", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the builtin profiles")
    show = sub.add_parser("show", help="print one builtin profile as YAML")
    show.add_argument("name")
    lint = sub.add_parser("lint", help="check profile files")
    lint.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "show":
        return _show(args.name)
    return _lint(args.files)
