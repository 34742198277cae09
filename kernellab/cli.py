"""``temper lab ...``: fetch the lab, open a guest shell, run a scenario.

Why it exists: the human and CI entry point to the lab; ``temper.cli`` delegates
``temper lab`` here via :func:`main`.  Exit status: 0 on success, 1 when a scenario
failed or timed out, 2 on usage errors or when the lab could not be prepared.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kernellab import fetch, vm


def _kernels(choice: str) -> list[str]:
    return list(fetch.KERNELS) if choice == "all" else [choice]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="temper lab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download/build everything the lab needs (idempotent)")
    f.add_argument("--kernel", choices=["7.2", "6.12", "all"], default="all")
    f.add_argument("--no-host-setup", action="store_true",
                   help="do not apt-get install host build tools")
    s = sub.add_parser("shell", help="interactive guest on this terminal (Ctrl-A X quits)")
    s.add_argument("--kernel", choices=["7.2", "6.12"], default="7.2")
    s.add_argument("--cpus", type=int, default=2)
    s.add_argument("--mem", default="1G")
    r = sub.add_parser("run", help="boot a guest and run SCENARIO")
    r.add_argument("scenario")
    r.add_argument("--kernel", choices=["7.2", "6.12", "all"], default="7.2")
    r.add_argument("--cpus", type=int, default=2)
    r.add_argument("--topology", default="", help="extra -smp properties, e.g. sockets=2,cores=2")
    r.add_argument("--mem", default="1G")
    r.add_argument("--timeout", type=float, default=180)
    r.add_argument("--workloads", action="store_true", help="add stress-ng/rt-tests/memcached")
    r.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--paths", action="store_true", help=argparse.SUPPRESS)
    v = sub.add_parser("vmlinux-h", help="print the path of vmlinux.h for a kernel")
    v.add_argument("--kernel", choices=["7.2", "6.12"], default="7.2")
    sub.add_parser("cflags", help="print the clang command and BPF flags per kernel")
    d = sub.add_parser("demo", help="fair class vs Temper: Critical wake-up latency under a batch ladder")
    d.add_argument("--kernel", choices=["7.2", "6.12"], default="7.2")
    d.add_argument("--seconds", type=float, default=4.0, help="probe time per arm")
    d.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.cmd == "fetch":
            t0 = time.monotonic()
            lab = fetch.fetch_all(_kernels(args.kernel), host_setup=not args.no_host_setup)
            for name, k in lab.kernels.items():
                print(f"kernel {name}: {k.image} (vmlinux.h: {k.vmlinux_h})")
            print(f"qemu: {lab.qemu.binary}")
            print(f"ready in {time.monotonic() - t0:.1f}s")
            return 0
        if args.cmd == "vmlinux-h":
            print(fetch.vmlinux_h(args.kernel))
            return 0
        if args.cmd == "cflags":
            from kernellab import bpfbuild

            lab = fetch.fetch_all(["7.2", "6.12"])
            for name, k in lab.kernels.items():
                print(f"{name}: {fetch.CLANG} {' '.join(bpfbuild.cflags(k, lab.tools))}")
            return 0
        if args.cmd == "shell":
            return vm.shell(args.kernel, cpus=args.cpus, mem=args.mem)
        if args.cmd == "demo":
            return _demo(args.kernel, args.seconds, args.json)
    except Exception as exc:
        print(f"temper lab: {exc}", file=sys.stderr)
        return 2
    rc = 0
    for kernel in _kernels(args.kernel):
        try:
            res = vm.run_scenario(kernel, args.scenario, cpus=args.cpus,  # type: ignore[arg-type]
                                  mem=args.mem, timeout=args.timeout, workloads=args.workloads, topology=args.topology)
        except Exception as exc:
            print(f"temper lab: {kernel}: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(res.to_json()))
        else:
            status = "ok" if res.ok else "FAILED"
            print(f"{args.scenario} on {kernel}: {status} (exit {res.exit_status}, "
                  f"boot {res.boot_s}s, wall {res.wall_s:.1f}s, log {res.console_log})")
            for rec in res.records:
                ok = rec.get("ok")
                mark = "    " if ok is None else ("ok  " if ok else "FAIL")
                rest = {k: v for k, v in rec.items() if k not in ("name", "ok")}
                print(f"  {mark} {rec['name']}: {json.dumps(rest)}")
        if not res.ok:
            rc = 1
    return rc


def _demo(kernel: vm.KernelName, seconds: float, json_path: str | None) -> int:
    from kernellab.ladder import run_ladder

    print(f"temper lab demo: booting Linux {kernel} under QEMU; a Critical pod's request lateness "
          f"under 0..8 Background CPU hogs, fair class then Temper, {seconds:g}s each ...", flush=True)
    ladder = run_ladder(kernel, seconds=seconds)
    print(ladder.table())
    if json_path:
        Path(json_path).write_text(json.dumps(ladder.to_json(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
