"""``temper rightsize``: CPU request / limit / exclusive-core recommendations from ``/observe``.

    temper rightsize --agent URL [--agent URL ...] [--samples N] [--interval S] [--save FILE]
    temper rightsize --from FILE [--from FILE ...]
        [--hpa-json FILE] [--pods-json FILE] [policy flags] [--output table|json]

A thin adapter around the pure ``temper.rightsize.analyse`` (the method: docs/rightsizing.md).
``--agent`` fetches ``URL/observe`` (JSON, stdlib urllib) ``--samples`` times, ``--interval``
seconds apart, stamping each document with its fetch time; ``--save`` writes them as JSON lines
(``{"taken_at", "source", "observe"}``) that ``--from`` reads back. ``--from`` also takes lines
that are bare ``/observe`` documents: their time is ``threads.taken_at`` when present, else
they are spaced ``--interval`` apart in file order (said on stderr).

Errors: bad flags, unreadable or malformed files, unreachable agents -> one line on stderr,
exit 2, never a traceback. Notes about skipped input go to stderr; recommendations to stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

from temper.rightsize import Document, InputError, Policy, Recommendation, analyse

PROG = "temper rightsize"
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class UsageError(Exception):
    """One line for stderr; exit 2."""


def _duration(text: str) -> float:
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 15m, 24h, 7d)")
    return float(match.group(1)) * UNITS[match.group(2)]


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {path} is not JSON: {exc}") from None


def _load_lines(path: str, interval: float) -> list[Document]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not text (JSON lines expected)") from None
    documents: list[Document] = []
    spaced = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(item, dict):
            raise UsageError(f"{path}:{number}: not a JSON object")
        if isinstance(item.get("observe"), dict):
            taken, source, body = item.get("taken_at"), str(item.get("source", path)), item["observe"]
        else:
            threads = item.get("threads")
            taken = threads.get("taken_at") if isinstance(threads, dict) else None
            source, body = path, item
        if not isinstance(taken, int | float) or isinstance(taken, bool):
            taken, spaced = len(documents) * interval, spaced + 1
        documents.append(Document(float(taken), source, body))
    if spaced:
        sys.stderr.write(f"{PROG}: {path}: {spaced} document(s) without a time, spaced {interval:g}s apart\n")
    return documents


def _observe_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/observe") else base + "/observe"


def _fetch(agents: list[str], samples: int, interval: float, timeout: float) -> list[Document]:
    documents = []
    for index in range(samples):
        if index:
            time.sleep(interval)
        for agent in agents:
            url = _observe_url(agent)
            request = urllib.request.Request(url, headers={"Accept": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    body = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                raise UsageError(f"{url}: HTTP {exc.code}") from None
            except (urllib.error.URLError, OSError) as exc:
                raise UsageError(f"{url}: {getattr(exc, 'reason', exc)}") from None
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise UsageError(f"{url}: the response is not JSON") from None
            documents.append(Document(time.time(), agent, body))
    return documents


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is the same one line (exit 2) as every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="CPU request, limit and exclusive-core recommendations from /observe "
                                            "(method: docs/rightsizing.md)",
                                     epilog="examples:\n  temper rightsize --agent http://10.0.0.5:9100 --samples 40 "
                                            "--interval 15 --save run.jsonl\n  temper rightsize --from run.jsonl "
                                            "--pods-json pods.json --hpa-json hpa.json --output json",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--agent", action="append", metavar="URL", help="node agent base URL (repeatable)")
    source.add_argument("--from", dest="files", action="append", metavar="FILE",
                        help="JSON lines of saved /observe documents (repeatable)")
    parser.add_argument("--samples", type=int, default=20, metavar="N", help="fetches per agent (default 20)")
    parser.add_argument("--interval", type=_duration, default=15.0, metavar="S", help="seconds between fetches")
    parser.add_argument("--timeout", type=_duration, default=5.0, metavar="S", help="per fetch (default 5)")
    parser.add_argument("--save", metavar="FILE", help="also write the fetched documents as JSON lines")
    parser.add_argument("--hpa-json", metavar="FILE", help="kubectl get hpa -A -o json")
    parser.add_argument("--pods-json", metavar="FILE", help="kubectl get pods -A -o json (owners, start times)")
    parser.add_argument("--output", choices=("table", "json"), default="table")
    policy = parser.add_argument_group("policy (docs/rightsizing.md)")
    defaults = Policy()
    policy.add_argument("--window", metavar="DURATION", type=_duration, default=defaults.window_s,
                        help="e.g. 24h, 7d (default 7d)")
    policy.add_argument("--percentile", metavar="P", type=float, default=defaults.percentile, help="default 95")
    policy.add_argument("--margin", metavar="PCT", type=float, default=defaults.margin_pct, help="percent (default 15)")
    policy.add_argument("--floor", metavar="MILLI", type=int, default=defaults.floor_m, help="millicores (default 10)")
    policy.add_argument("--min-samples", metavar="N", type=int, default=defaults.min_samples, help="default 10")
    policy.add_argument("--startup", metavar="DURATION", type=_duration, default=defaults.startup_s, help="default 5m")
    policy.add_argument("--throttle-threshold", metavar="PCT", type=float, default=defaults.throttle_pct,
                        help="percent (default 5)")
    policy.add_argument("--threads-per-core", metavar="N", type=int, default=defaults.threads_per_core,
                        help="SMT width for exclusive cores (default 1)")
    return parser


def _policy(args: argparse.Namespace) -> Policy:
    try:
        return Policy(window_s=args.window, percentile=args.percentile, margin_pct=args.margin, floor_m=args.floor,
                      min_samples=args.min_samples, startup_s=args.startup, throttle_pct=args.throttle_threshold,
                      threads_per_core=args.threads_per_core)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _value(rec: Recommendation) -> str:
    values = rec.values
    if rec.kind.value == "limit":
        return f"limit {values['limit_m']}m"
    if rec.kind.value == "refused":
        return "-"
    text = f"request {values['request_m']}m"
    if "target_utilization_pct" in values:
        text += f", HPA target {values['target_utilization_pct']}%"
    if "annotation" in values:
        text += f", {values['annotation']}"
    return text


def _milli(value: object) -> str:
    return "-" if value is None else f"{value}m"


def render_table(recs: list[Recommendation]) -> str:
    rows = [("SCOPE", "KIND", "REQUEST/LIMIT", "RECOMMENDED", "SAMPLES", "PERCENTILE", "THROTTLE", "RUNQ P99",
             "CONFIDENCE")]
    for rec in recs:
        ev, now = rec.evidence, rec.current
        rows.append((rec.scope.key, rec.kind.value, f"{_milli(now.get('request_m'))}/{_milli(now.get('limit_m'))}",
                     _value(rec), str(ev.samples),
                     "-" if ev.used_percentile_m is None else f"p{ev.percentile:g} {ev.used_percentile_m:g}m",
                     "-" if ev.throttle_pct is None else f"{ev.throttle_pct}%",
                     "-" if ev.runqueue_p99_ms is None else f"{ev.runqueue_p99_ms}ms",
                     f"{rec.confidence.level} {rec.confidence.score}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for rec in recs:
        lines.append(f"\n{rec.scope.key} ({rec.kind.value}): {rec.reason}")
        for name in ("granularity", "mapping", "hpa", "startup", "threads"):
            lines.append(f"  {name}: {getattr(rec.evidence, name)}")
        lines.extend(f"  note: {note}" for note in rec.evidence.notes)
        if "profile_yaml" in rec.values:
            lines.append("  profile:\n" + "\n".join(f"    {line}" for line in rec.values["profile_yaml"].splitlines()))
    return "\n".join(lines)


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    policy = _policy(args)
    if args.samples < 1:
        raise UsageError("--samples must be at least 1")
    hpas = _read_json(args.hpa_json, "HPA JSON") if args.hpa_json else None
    pods = _read_json(args.pods_json, "pods JSON") if args.pods_json else None
    if args.agent:
        documents = _fetch(args.agent, args.samples, args.interval, args.timeout)
        if args.save:
            try:
                Path(args.save).write_text("".join(json.dumps({"taken_at": d.taken_at, "source": d.source,
                                                               "observe": d.body}) + "\n" for d in documents))
            except OSError as exc:
                raise UsageError(f"cannot write {args.save}: {exc.strerror}") from None
    else:
        documents = [doc for path in args.files for doc in _load_lines(path, args.interval)]
    if not documents:
        raise UsageError("no /observe documents to work from")
    try:
        report = analyse(documents, policy, hpas=hpas, pods=pods)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    for note in report.notes:
        sys.stderr.write(f"{PROG}: {note}\n")
    recs = list(report.recommendations)
    if args.output == "json":
        print(json.dumps({"policy": policy.__dict__, "recommendations": [r.to_dict() for r in recs],
                          "notes": list(report.notes)}, indent=2))
    else:
        print(render_table(recs))
    return 0


def main(argv: list[str]) -> int:
    try:
        return _run(argv)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
