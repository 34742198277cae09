#!/usr/bin/env bash
# One-shot set-up for a fresh Debian machine (run as root, or with sudo available):
# system packages the tests and the lab need, then this package with its dev extras.
# Idempotent: re-running installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages: BPF toolchain (clang-16 + libbpf's BPF headers), kernel build deps for the
# 6.12 lab kernel, promtool (metrics lint in tests), chromium (the console UI browser tests).
APT_PACKAGES=(clang-16 llvm-16 libbpf-dev gcc make flex bison bc libelf-dev libssl-dev dwarves
              cpio zstd xz-utils python3 prometheus chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
