"""The Workload Profile an exclusive-core recommendation proposes, in docs/profiles.md's shape.

Why it exists: "give this thread a core" is only actionable as a profile the agent accepts, so
the proposal is written as profile YAML and run through ``temper.profiles.model.parse_profile``
(the same linter ``temper profile lint`` uses) before it is recommended.

Shape: one ``exclusive`` group per pinned thread name (``comm: {exact: NAME}``), ``cores`` =
how many threads of that name were pinned at once in one pod; at most ``MAX_GROUPS``
groups (hottest first). The grant needs (``temper.profiles.entitle``) a Critical or High pod
and a request of at least ``cores x 1000m x threads_per_core``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from temper.profiles.model import MAX_GROUPS, ProfileErrors, parse_profile
from temper.profiles.select import PROFILE_ANNOTATION
from temper.rightsize.threads import PinnedThread


def _name(text: str, fallback: str) -> str:
    cleaned = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")[:40].strip("-")
    return cleaned if cleaned and cleaned != "none" else fallback


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def profile_for(workload: str, pinned_per_pod: Sequence[Sequence[PinnedThread]]) -> tuple[str, dict[str, int]]:
    """(profile YAML, comm -> cores). Raises ``ProfileErrors`` if the linter rejects it."""
    cores: dict[str, int] = {}
    order: list[str] = []
    for pinned in pinned_per_pod:
        counts: dict[str, int] = {}
        for thread in pinned:
            counts[thread.comm] = counts.get(thread.comm, 0) + 1
            if thread.comm not in order:
                order.append(thread.comm)
        for comm, count in counts.items():
            cores[comm] = max(cores.get(comm, 0), count)
    chosen = order[:MAX_GROUPS]
    names: dict[str, str] = {}
    lines = [f"name: {_name(workload + '-hot', 'hot-threads')}", "version: 1",
             f"description: {_quote('exclusive cores for threads pinned at a core (temper rightsize)')}", "groups:"]
    for index, comm in enumerate(chosen):
        group = _name(comm, f"hot-{index}")
        while group in names.values():
            group = f"{group[:36]}-{index}"
        names[comm] = group
        lines += [f"  - name: {group}", "    treatment: exclusive", f"    cores: {cores[comm]}",
                  f"    comm: {{exact: {_quote(comm)}}}"]
    text = "\n".join(lines) + "\n"
    parse_profile(text)
    return text, {comm: cores[comm] for comm in chosen}


def annotation_for(profile_yaml: str) -> str:
    name = profile_yaml.split("\n", 1)[0].removeprefix("name: ")
    return f"{PROFILE_ANNOTATION}: {name}"


__all__ = ["ProfileErrors", "annotation_for", "profile_for"]
