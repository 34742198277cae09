#!/usr/bin/busybox sh
# Guest /init for the Temper kernel lab (PID 1 in the initramfs).
#
# Why it exists: brings a bare initramfs up to what kubelet + the node agent expect
# (proc, sysfs, devtmpfs, cgroup2 with controllers delegated, bpffs, debugfs/tracefs,
# loopback), then runs the scenario (or a shell) and powers off.
# Invariant: whatever happens, the guest ends with a reboot request, which QEMU's
# -no-reboot turns into exit; a result line "TEMPER-EXIT <rc>" always precedes it.
/usr/bin/busybox mkdir -p /bb
/usr/bin/busybox --install -s /bb
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb
export HOME=/root PYTHONPATH=/opt/temper PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo "+cpu +cpuset +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
hostname temper-lab
# Results channel: second serial port, raw, so JSON lines pass untouched.
stty -F /dev/ttyS1 raw -echo 2>/dev/null
mode=run
for arg in $(cat /proc/cmdline); do
  case "$arg" in temper.mode=*) mode="${arg#temper.mode=}" ;; esac
done
echo "TEMPER-BOOTED $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS1
if [ "$mode" = shell ]; then
  echo "temper lab shell: Python at /usr/bin/python3, repo at /opt/temper; exit to power off"
  setsid cttyhack sh -l
  rc=0
else
  python3 -m kernellab.guest.runner /lab/run.json
  rc=$?
fi
echo "TEMPER-EXIT $rc" > /dev/ttyS1
echo "TEMPER-EXIT $rc"
sync
echo b > /proc/sysrq-trigger
sleep 5
