"""Merge custom profile files into the active set: take every good file, keep the old
version of every bad one (pure; the agent's thin file-reading adapter calls it).

Invariant: a bad file never drops a profile the agent had — its previous good version stays
active and the error (file, line, message) is reported. A file that disappeared drops its
profile. A custom profile may not reuse an enabled builtin's name, nor another file's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from temper.profiles.model import Profile, ProfileErrors, parse_profile


@dataclass(frozen=True)
class LoadResult:
    by_file: dict[str, Profile]
    errors: tuple[str, ...]

    def profiles(self, builtins: Mapping[str, Profile]) -> dict[str, Profile]:
        return {**builtins, **{p.name: p for p in self.by_file.values()}}


def merge_profiles(previous: Mapping[str, Profile], files: Mapping[str, str],
                   builtins: Mapping[str, Profile]) -> LoadResult:
    by_file: dict[str, Profile] = {}
    errors: list[str] = []
    owners: dict[str, str] = {}
    for path in sorted(files):
        try:
            profile: Profile | None = parse_profile(files[path])
        except ProfileErrors as exc:
            errors.extend(f"{path}:{e.line}: {e.message} (kept the previous version)" for e in exc.errors)
            profile = previous.get(path)
        if profile is None:
            continue
        if profile.name in builtins:
            errors.append(f"{path}: profile {profile.name!r} shadows a builtin; rename it or disable the builtin")
            continue
        if profile.name in owners:
            errors.append(f"{path}: profile {profile.name!r} is already defined by {owners[profile.name]}")
            continue
        owners[profile.name] = path
        by_file[path] = profile
    return LoadResult(by_file, tuple(errors))
