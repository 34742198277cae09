/* SPDX-License-Identifier: GPL-2.0 */
/*
 * temper.h - the contract between Temper's sched_ext scheduler and the node agent.
 *
 * Everything user space reads or writes in the scheduler's maps is defined here, once.
 * temper/bpfmaps.py mirrors these layouts byte for byte; tests/bpf/test_map_layout.py parses
 * this file and fails if the mirror drifts. Rules for changing it: append, never reorder;
 * bump TEMPER_ABI_VERSION on any change; fixed-width types only; explicit padding.
 *
 * Maps (pinned by the agent under /sys/fs/bpf/temper/maps/):
 *   temper_cgroups  HASH   u64 cgroup id -> struct temper_cgroup_entry   pod cgroups only;
 *                          tasks in descendant cgroups inherit; unknown cgroups are Normal.
 *   temper_tiers    ARRAY  u32 tier      -> struct temper_tier_config
 *   temper_cpus     ARRAY  u32 cpu       -> u32 enum temper_cpu_role
 *   temper_global   ARRAY  u32 0         -> struct temper_global_config  (written LAST by
 *                          the agent: a new generation makes the scheduler re-read the rest)
 *   temper_stats    PERCPU_ARRAY u32 tier * TEMPER_NR_STATS + stat -> u64
 *   temper_exitinfo ARRAY  u32 0         -> struct temper_exit_record    (written by ops.exit)
 *   temper_cpu_max HASH  u64 cgroup id -> struct temper_bw_config      cgroups with a CPU
 *                          limit (cpu.max quota not "max"), pod and container levels; the
 *                          agent writes them before temper_global like the rest.
 *   temper_bw_stats HASH   u64 cgroup id -> struct temper_bw_stats       written by the
 *                          scheduler only (its bandwidth state and the cpu.stat-style
 *                          counters the kernel's own cpu.stat leaves at 0 under sched_ext).
 *   temper_timers   ARRAY  u32 0         -> struct bpf_timer (16 bytes)  the bandwidth refill
 *                          timer. Private, but the agent pins it: the kernel cancels a BPF
 *                          timer once its map has no user reference left.
 *   temper_topology ARRAY  u32 cpu       -> struct temper_cpu_topology   its SMT sibling and
 *                          LLC. Written with temper_cpus, before temper_global; read when a
 *                          generation is adopted.
 *   temper_wait     PERCPU_ARRAY u32 tier -> struct temper_wait_hist     runqueue wait
 *                          (runnable -> running) of the tier's tasks, written by the scheduler
 *                          only (telemetry.bpf.h); the agent sums the CPUs.
 *   temper_pod_wait LRU_PERCPU_HASH u64 pod cgroup id -> struct temper_wait_hist  the same per
 *                          pod (the temper_cgroups entry a task resolved to); LRU, so entries of
 *                          departed pods age out and the agent never deletes.
 */
#ifndef __TEMPER_H
#define __TEMPER_H

#define TEMPER_ABI_VERSION 4
#define TEMPER_MAX_CPUS 512
#define TEMPER_MAX_CGROUPS 65536
#define TEMPER_MAX_BW_CGROUPS 16384
#define TEMPER_REASON_LEN 128
#define TEMPER_MSG_LEN 256
#define TEMPER_MAX_LLCS 16
#define TEMPER_WAIT_BUCKETS 24
#define TEMPER_MAX_WAIT_PODS 4096

enum temper_tier {
	TEMPER_TIER_CRITICAL = 0,
	TEMPER_TIER_HIGH = 1,
	TEMPER_TIER_NORMAL = 2,
	TEMPER_TIER_LOW = 3,
	TEMPER_TIER_BACKGROUND = 4,
	TEMPER_NR_TIERS = 5,
};

enum temper_tier_flags {
	TEMPER_TF_PREEMPT = 1,		/* its wake-up kicks preemptible tasks off a CPU */
	TEMPER_TF_PREEMPTIBLE = 2,	/* kicked when a protected task wakes */
	TEMPER_TF_BORROW_FENCED = 4,	/* may run on an idle fenced CPU */
	TEMPER_TF_SMT_YIELD = 8,	/* not lent a fenced CPU whose SMT sibling runs Critical */
};

enum temper_cpu_role {
	TEMPER_CPU_SHARED = 0,
	TEMPER_CPU_FENCED = 1,
};

enum temper_stat {
	TEMPER_STAT_ENQUEUE = 0,	/* tasks queued in the tier's dispatch queue */
	TEMPER_STAT_DIRECT = 1,		/* woken straight onto an idle CPU */
	TEMPER_STAT_PREEMPT_KICK = 2,	/* CPUs this tier's wake-ups preempted */
	TEMPER_STAT_BORROW = 3,		/* times this tier started running on a fenced CPU */
	TEMPER_STAT_STARVATION_GUARD = 4,	/* dispatches forced by the starvation guard */
	TEMPER_STAT_FALLBACK = 5,	/* tasks whose affinity excluded their tier's CPUs */
	TEMPER_STAT_THROTTLED = 6,	/* tasks parked because their cgroup ran out of CPU quota */
	TEMPER_STAT_OVERFLOW = 7,	/* Critical tasks that started on a shared CPU */
	TEMPER_STAT_REENQUEUED = 8,	/* tasks re-queued after RT/deadline work took their CPU */
	TEMPER_NR_STATS = 9,
};

struct temper_cgroup_entry {
	__u32 tier;			/* enum temper_tier */
	__u32 weight;			/* kubelet cpu.weight of the pod, 1..10000 */
};

struct temper_tier_config {
	__u64 slice_ns;
	__u32 weight;			/* 1..10000 */
	__u32 flags;			/* enum temper_tier_flags */
};

struct temper_global_config {
	__u64 generation;		/* 0: not configured yet (everything Normal, all CPUs shared) */
	__u64 starvation_guard_ns;
	__u32 nr_fenced;
	__u32 abi_version;		/* TEMPER_ABI_VERSION of the agent that wrote it */
};

struct temper_exit_record {
	__s64 kind;			/* enum scx_exit_kind: 64 UNREG, 1024 ERROR, 1026 ERROR_STALL ... */
	__s64 exit_code;
	__u64 timestamp_ns;		/* bpf_ktime_get_ns() at exit; 0 = never exited */
	char reason[TEMPER_REASON_LEN];
	char msg[TEMPER_MSG_LEN];
};

struct temper_cpu_topology {
	__s32 sibling;			/* the lowest other online CPU of its core; -1 = none */
	__u32 llc;			/* dense LLC index 0..TEMPER_MAX_LLCS-1, folded; not read yet */
};

struct temper_bw_config {
	__u64 period_ns;		/* cpu.max period: 1 ms .. 1 s */
	__u64 quota_ns;			/* cpu.max quota: 1 ms .. period x nr CPUs */
	__u64 burst_ns;			/* cpu.max.burst: 0 .. quota */
};

struct temper_bw_stats {
	__u64 nr_periods;		/* periods in which the cgroup used CPU */
	__u64 nr_throttled;		/* times the cgroup ran out of quota and was parked */
	__u64 throttled_ns;		/* total time spent throttled (closed intervals) */
	__s64 runtime_ns;		/* quota left in this period; negative = debt */
	__u64 period_start_ns;		/* bpf_ktime_get_ns() when this period began */
	__u64 throttled_since_ns;	/* start of the open throttled interval, 0 = none */
	__u32 throttled;		/* 1 while the cgroup's tasks are parked */
	__u32 pad;
};

/*
 * A log2 histogram of runqueue waits. Bucket b counts waits w with w < 1024 ns x 2^b (and, for
 * b > 0, w >= 1024 ns x 2^(b-1)); the last bucket also takes everything longer (~8.6 s and up).
 */
struct temper_wait_hist {
	__u64 count;			/* waits recorded (= the sum of the buckets) */
	__u64 sum_ns;			/* their total, ns */
	__u64 buckets[TEMPER_WAIT_BUCKETS];
};

#endif /* __TEMPER_H */
