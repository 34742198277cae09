"""The Workload Profile model, its YAML form, and the linter.

Why it exists: profiles come from three places (builtins, a ConfigMap, training output) and
the agent and ``temper profile lint`` must judge them identically; ``parse_profile`` is that
one judge. It reads YAML through PyYAML's node API so every problem carries the line.

Semantics (invariants the linter guarantees for every accepted profile):
- groups are ordered and a thread takes the *first* group that matches it (``match_thread``);
  threads no group matches stay in the pod's tier as today (``normal``);
- a group matches by ``comm`` (prefix / exact / bounded regex, compiled by
  ``temper.profiles.comm``), optionally only inside processes named ``process``; or, for
  programs that keep one thread name and set roles in argv (PostgreSQL, nginx), by the
  process's ``cmdline`` (prefix / contains), which the agent classifies and hands the kernel
  as per-thread hints;
- no two comm groups can match the same thread (overlap is an error, so order never hides a
  mistake) and no group is unreachable or empty; cmdline groups may overlap (first match wins)
  but none may be unreachable;
- ``cores`` only with ``exclusive`` (whole cores, default 1); at most ``MAX_GROUPS`` groups.

Errors: ``ProfileError(line, message)`` (a ``ValueError``); ``parse_profile`` reports all
problems it finds in one ``ProfileErrors``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

from temper.profiles.comm import COMM_MAX, CommError, CommProgram, compile_exact, compile_prefix, compile_regex

MAX_GROUPS = 8
"""Groups per profile: the kernel's per-profile table has this many slots."""
MAX_CORES = 64
MAX_CMDLINE = 128
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


class Treatment(enum.IntEnum):
    """The value is the BPF encoding."""

    NORMAL = 0
    LATENCY = 1
    YIELD = 2
    EXCLUSIVE = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class ProfileError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class ProfileErrors(ValueError):
    def __init__(self, errors: list[ProfileError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class CommMatch:
    kind: str  # prefix | exact | regex
    pattern: str
    program: CommProgram


@dataclass(frozen=True)
class CmdlineMatch:
    kind: str  # prefix | contains
    text: str

    def matches(self, cmdline: str) -> bool:
        return cmdline.startswith(self.text) if self.kind == "prefix" else self.text in cmdline


@dataclass(frozen=True)
class Group:
    name: str
    treatment: Treatment
    comm: CommMatch | None = None
    cmdline: CmdlineMatch | None = None
    process: str | None = None
    cores: int = 0
    line: int = 0


@dataclass(frozen=True)
class Profile:
    name: str
    version: int
    groups: tuple[Group, ...]
    images: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    description: str = ""
    source_text: str = field(default="", compare=False)

    def group(self, name: str) -> Group:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)


def match_thread(profile: Profile, comm: bytes, process: bytes, cmdline: str | None = None) -> int | None:
    """First group matching a thread (index), or None (the pod's tier as today).

    ``cmdline`` groups only match when the agent supplied the process's cmdline (a hint)."""
    from temper.profiles.comm import match_compiled

    for index, group in enumerate(profile.groups):
        if group.process is not None and process[:COMM_MAX] != group.process.encode()[:COMM_MAX]:
            continue
        if group.comm is not None and match_compiled(group.comm.program, comm):
            return index
        if group.cmdline is not None and cmdline is not None and group.cmdline.matches(cmdline):
            return index
    return None


# -- YAML -------------------------------------------------------------------------------------

def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Reader:
    def __init__(self) -> None:
        self.errors: list[ProfileError] = []

    def fail(self, node: yaml.Node, message: str) -> None:
        self.errors.append(ProfileError(_line(node), message))

    def mapping(self, node: yaml.Node, where: str, known: set[str],
                required: Iterable[str] = ()) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{where} must be a mapping")
            return {}
        result: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            if name not in known:
                self.fail(key, f"unknown key {name!r} in {where} (known: {', '.join(sorted(known))})")
            elif name in result:
                self.fail(key, f"duplicate key {name!r} in {where}")
            else:
                result[name] = value
        for name in required:
            if name not in result:
                self.fail(node, f"{where} needs {name!r}")
        return result

    def string(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str" or not node.value:
            self.fail(node, f"{where} must be a non-empty string")
            return ""
        return str(node.value)

    def integer(self, node: yaml.Node, where: str, lo: int, hi: int) -> int:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            value = int(node.value)
            if lo <= value <= hi:
                return value
        self.fail(node, f"{where} must be an integer within {lo}..{hi}")
        return lo

    def strings(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{where} must be a list of strings")
            return ()
        return tuple(s for s in (self.string(item, f"{where} entry") for item in node.value) if s)


_GROUP_KEYS = {"name", "treatment", "comm", "cmdline", "process", "cores", "source"}


def _group(reader: _Reader, node: yaml.Node, index: int) -> Group | None:
    where = f"groups[{index}]"
    keys = reader.mapping(node, where, _GROUP_KEYS, ("name", "treatment"))
    before = len(reader.errors)
    name = reader.string(keys["name"], f"{where}.name") if "name" in keys else ""
    if name and not NAME_RE.match(name):
        reader.fail(keys["name"], f"group name {name!r} must be lower-case letters, digits and '-'")
    treatment = Treatment.NORMAL
    if "treatment" in keys:
        text = reader.string(keys["treatment"], f"{where}.treatment")
        try:
            treatment = Treatment[text.upper()]
        except KeyError:
            reader.fail(keys["treatment"], f"unknown treatment {text!r} "
                        f"(valid: {', '.join(t.label for t in Treatment)})")
    comm = cmdline = None
    if ("comm" in keys) == ("cmdline" in keys):
        reader.fail(node, f"group {name!r} needs exactly one of 'comm' or 'cmdline'")
    if "comm" in keys:
        sub = reader.mapping(keys["comm"], f"{where}.comm", {"prefix", "exact", "regex"})
        if len(sub) != 1:
            reader.fail(keys["comm"], f"group {name!r}: comm takes exactly one of prefix, exact, regex")
        for kind, value in sub.items():
            text = reader.string(value, f"{where}.comm.{kind}")
            try:
                compiler = {"prefix": compile_prefix, "exact": compile_exact, "regex": compile_regex}[kind]
                comm = CommMatch(kind, text, compiler(text))
            except CommError as exc:
                reader.fail(value, f"group {name!r}: {exc}")
    if "cmdline" in keys:
        sub = reader.mapping(keys["cmdline"], f"{where}.cmdline", {"prefix", "contains"})
        if len(sub) != 1:
            reader.fail(keys["cmdline"], f"group {name!r}: cmdline takes exactly one of prefix, contains")
        for kind, value in sub.items():
            text = reader.string(value, f"{where}.cmdline.{kind}")
            if len(text.encode()) > MAX_CMDLINE:
                reader.fail(value, f"group {name!r}: cmdline match longer than {MAX_CMDLINE} bytes")
            cmdline = CmdlineMatch(kind, text)
    process = None
    if "process" in keys:
        process = reader.string(keys["process"], f"{where}.process")
        if len(process.encode()) > COMM_MAX:
            reader.fail(keys["process"], f"group {name!r}: process name {process!r} is longer than the "
                        f"{COMM_MAX} bytes the kernel keeps")
    cores = 0
    if treatment is Treatment.EXCLUSIVE:
        cores = reader.integer(keys["cores"], f"{where}.cores", 1, MAX_CORES) if "cores" in keys else 1
    elif "cores" in keys:
        reader.fail(keys["cores"], f"group {name!r}: 'cores' only applies to treatment exclusive, "
                    f"not {treatment.label}")
    if "source" in keys:
        reader.string(keys["source"], f"{where}.source")
    if len(reader.errors) != before:
        return None
    return Group(name, treatment, comm, cmdline, process, cores, _line(node))


def _scopes_overlap(a: Group, b: Group) -> bool:
    return a.process is None or b.process is None or a.process == b.process


def _scope_covers(earlier: Group, later: Group) -> bool:
    return earlier.process is None or earlier.process == later.process


def _cmdline_covers(earlier: CmdlineMatch, later: CmdlineMatch) -> bool:
    if earlier.kind == "prefix":
        return later.kind == "prefix" and later.text.startswith(earlier.text)
    return earlier.text in later.text


def check_groups(groups: list[Group]) -> list[ProfileError]:
    """Overlap / unreachable / empty checks (module docstring)."""
    from temper.profiles.automata import witness

    errors: list[ProfileError] = []
    names: set[str] = set()
    for j, later in enumerate(groups):
        if later.name in names:
            errors.append(ProfileError(later.line, f"duplicate group name {later.name!r}"))
        names.add(later.name)
        if later.comm is not None and witness(later.comm.program, None, True, True) is None:
            errors.append(ProfileError(later.line, f"group {later.name!r} matches no thread name "
                                       f"(a thread name has at most {COMM_MAX} bytes)"))
            continue
        for earlier in groups[:j]:
            if not _scopes_overlap(earlier, later):
                continue
            if later.comm is not None and earlier.comm is not None:
                if _scope_covers(earlier, later) and witness(later.comm.program, earlier.comm.program,
                                                             True, False) is None:
                    errors.append(ProfileError(later.line, f"group {later.name!r} is unreachable: every "
                                               f"thread it matches is taken by {earlier.name!r} "
                                               f"(line {earlier.line})"))
                    break
                both = witness(later.comm.program, earlier.comm.program, True, True)
                if both is not None:
                    errors.append(ProfileError(later.line, f"groups {earlier.name!r} (line {earlier.line}) "
                                               f"and {later.name!r} overlap: both match thread name "
                                               f"{both.decode(errors='replace')!r}"))
            elif (later.cmdline is not None and earlier.cmdline is not None and _scope_covers(earlier, later)
                  and _cmdline_covers(earlier.cmdline, later.cmdline)):
                errors.append(ProfileError(later.line, f"group {later.name!r} is unreachable: every "
                                           f"process it matches is taken by {earlier.name!r} "
                                           f"(line {earlier.line})"))
                break
    if len(groups) > MAX_GROUPS:
        errors.append(ProfileError(groups[MAX_GROUPS].line, f"at most {MAX_GROUPS} groups per profile"))
    return errors


_TOP_KEYS = {"name", "version", "description", "selectors", "groups"}


def parse_profile(text: str) -> Profile:
    """Parse and lint one profile document; raises ``ProfileErrors`` listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else 1
        raise ProfileErrors([ProfileError(line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if root is None:
        raise ProfileErrors([ProfileError(1, "empty document")])
    reader = _Reader()
    keys = reader.mapping(root, "profile", _TOP_KEYS, ("name", "version", "groups"))
    name = reader.string(keys["name"], "name") if "name" in keys else ""
    if name and not NAME_RE.match(name):
        reader.fail(keys["name"], f"profile name {name!r} must be lower-case letters, digits and '-' "
                    "(and 'none' is reserved)")
    if name == "none":
        reader.fail(keys["name"], "'none' is reserved: it opts a pod out of profiles")
    version = reader.integer(keys["version"], "version", 1, 1_000_000) if "version" in keys else 1
    description = reader.string(keys["description"], "description") if "description" in keys else ""
    images: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    if "selectors" in keys:
        selectors = reader.mapping(keys["selectors"], "selectors", {"images", "processes"})
        images = reader.strings(selectors["images"], "selectors.images") if "images" in selectors else ()
        processes = reader.strings(selectors["processes"], "selectors.processes") if "processes" in selectors else ()
    groups: list[Group] = []
    if "groups" in keys:
        node = keys["groups"]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            reader.fail(node, "groups must be a non-empty list")
        else:
            for index, item in enumerate(node.value):
                group = _group(reader, item, index)
                if group is not None:
                    groups.append(group)
    errors = reader.errors + check_groups(groups)
    if errors:
        raise ProfileErrors(sorted(errors, key=lambda e: e.line))
    return Profile(name, version, tuple(groups), images, processes, description, text)


def to_yaml(profile: Profile) -> str:
    """Canonical YAML of a profile (``parse_profile(to_yaml(p)) == p``)."""
    if profile.source_text:
        return profile.source_text
    lines = [f"name: {profile.name}", f"version: {profile.version}"]
    if profile.description:
        lines.append(f"description: {_quote(profile.description)}")
    if profile.images or profile.processes:
        lines.append("selectors:")
        if profile.images:
            lines.append("  images: [" + ", ".join(_quote(i) for i in profile.images) + "]")
        if profile.processes:
            lines.append("  processes: [" + ", ".join(_quote(p) for p in profile.processes) + "]")
    lines.append("groups:")
    for group in profile.groups:
        lines.append(f"  - name: {group.name}")
        lines.append(f"    treatment: {group.treatment.label}")
        if group.comm is not None:
            lines.append(f"    comm: {{{group.comm.kind}: {_quote(group.comm.pattern)}}}")
        if group.cmdline is not None:
            lines.append(f"    cmdline: {{{group.cmdline.kind}: {_quote(group.cmdline.text)}}}")
        if group.process is not None:
            lines.append(f"    process: {_quote(group.process)}")
        if group.treatment is Treatment.EXCLUSIVE:
            lines.append(f"    cores: {group.cores}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
