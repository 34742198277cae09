#!/usr/bin/env bash
# Build Temper's sched_ext scheduler into bpf/build/: temper.bpf.o (the product),
# temper_kbw.bpf.o (the same plus the 6.17+ cgroup bandwidth callbacks; the agent picks it
# where the kernel has them) and temper_broken.bpf.o (a variant that never dispatches, for
# the watchdog lab test) and temper_notelemetry.bpf.o (telemetry.bpf.h's recording compiled out,
# maps kept: the telemetry-cost benchmark's baseline, benchmarks/lab_bpf_cost.py). -mcpu=v3: compare-and-swap atomics (every supported kernel has them).
# One object serves every supported kernel: it is compiled once against a 7.2 vmlinux.h and
# relocated at load time (CO-RE); bpf/common.bpf.h carries the kfunc shims.
# Used by `make test`, the lab, and the Dockerfile's build stage.
#   VMLINUX_H=path   use this vmlinux.h instead of the lab's 7.2 one (fetched and cached)
#   CLANG=clang-NN   compiler (default clang-16, the newest Debian 12 ships)
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang-16}
if [ -z "${VMLINUX_H:-}" ]; then
    VMLINUX_H=$(python3 -m kernellab.cli vmlinux-h --kernel 7.2 | tail -n 1)
fi
[ -f "$VMLINUX_H" ] || { echo "build-bpf: vmlinux.h not found at '$VMLINUX_H'" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "build-bpf: libbpf-dev headers missing (apt install libbpf-dev)" >&2; exit 1; }

mkdir -p bpf/build
cp "$VMLINUX_H" bpf/build/vmlinux.h.tmp && mv bpf/build/vmlinux.h.tmp bpf/build/vmlinux.h
FLAGS=(-O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -fms-extensions -Wno-microsoft-anon-tag
       -Wall -Werror -Ibpf/build -Ibpf)

build() {  # build OUTPUT [extra flags...]
    local out=$1; shift
    "$CLANG" "${FLAGS[@]}" "$@" -c bpf/temper.bpf.c -o "bpf/build/$out.tmp"
    mv "bpf/build/$out.tmp" "bpf/build/$out"
}
build temper.bpf.o
build temper_kbw.bpf.o -DTEMPER_KERNEL_BW
build temper_broken.bpf.o -DTEMPER_BROKEN
build temper_notelemetry.bpf.o -DTEMPER_NO_TELEMETRY
echo "build-bpf: bpf/build/temper.bpf.o bpf/build/temper_kbw.bpf.o bpf/build/temper_broken.bpf.o bpf/build/temper_notelemetry.bpf.o ($("$CLANG" --version | head -n 1))"
