/* SPDX-License-Identifier: GPL-2.0 */
/*
 * common.bpf.h - what every unit of Temper's scheduler shares: kfunc compat shims, the
 * maps of the agent ABI (layouts in temper.h), per-task and per-CPU state, config access.
 *
 * UNITS (one compilation unit, temper.bpf.c, includes them in this order)
 *   common.bpf.h     this file: no callbacks, no policy.
 *   bandwidth.bpf.h  cgroup cpu.max enforcement: charge, park, refill (BPF timer), unpark.
 *   temper.bpf.c     core tiers: placement, queues, preemption, starvation guard, hotplug,
 *                    and the sched_ext_ops table; it includes dump.bpf.h last:
 *   dump.bpf.h       the scheduler's own lines in the kernel's debug/exit dump (read-only).
 *
 * KFUNC DRIFT
 * The object is built once against a 7.x vmlinux.h and loaded on 6.12..7.x (CO-RE). Every
 * kfunc whose name or signature changed goes through one shim here, which tests at load
 * time (bpf_ksym_exists) which variant the running kernel has:
 *   6.12         scx_bpf_dispatch[_vtime], scx_bpf_consume, scx_bpf_dispatch[_vtime]_from_dsq,
 *                scx_bpf_dispatch_from_dsq_set_vtime, scx_bpf_reenqueue_local() -> u32
 *   6.13+        scx_bpf_dsq_insert[_vtime], scx_bpf_dsq_move_to_local, scx_bpf_dsq_move[_vtime],
 *                scx_bpf_dsq_move_set_vtime
 *   7.1+         scx_bpf_dsq_move_to_local___v2(dsq, enq_flags), scx_bpf_reenqueue_local___v2(),
 *                scx_bpf_task_set_slice (writing p->scx.slice is deprecated)
 *   6.16+        scx_bpf_select_cpu_and: the kernel's topology-aware idle pick (previous CPU,
 *                its idle SMT core, its LLC, its NUMA node, then anywhere) inside a cpumask;
 *                before it, idle_cpu_in falls back to previous CPU, a wholly idle core, any
 * A weak kfunc whose prototype does not match the kernel's stays unresolved (NULL), so a
 * shim never calls a variant with the wrong arguments.
 *
 * INVARIANTS
 * - vtime values are compared only as signed differences (time_before64 semantics, as the
 *   kernel orders a DSQ), so the absolute u64 clocks may wrap.
 * - Per-CPU state (cpu_ctxs) is one cache line per CPU: no false sharing between CPUs.
 */
#ifndef __TEMPER_COMMON_BPF_H
#define __TEMPER_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "temper.h"

#define BPF_STRUCT_OPS(name, args...) SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ _Static_assert(!__builtin_constant_p(!!sym), #sym " must be __weak"); !!sym; })
#endif

#define CACHELINE 64

/*
 * Open-coded iterator loops (bpf_iter_num, 6.4+): the verifier checks the body once instead
 * of unrolling up to TEMPER_MAX_CPUS iterations. Written out (no cleanup attribute: clang 16
 * emits no BTF for a kfunc only referenced that way), so bodies use break, never return.
 */
#define temper_iter_begin(it, i, start, end)                                              \
	bpf_iter_num_new(&(it), (start), (end));                                          \
	for (int *___n; (___n = bpf_iter_num_next(&(it))) && ((i) = *___n, 1);)
#define temper_iter_end(it) bpf_iter_num_destroy(&(it))

/* ---- kfunc shims ---- */

void scx_bpf_dispatch___compat(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch_vtime___compat(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime,
				     u64 enq_flags) __ksym __weak;
bool scx_bpf_consume___compat(u64 dsq_id) __ksym __weak;
bool scx_bpf_dispatch_from_dsq___compat(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p,
					u64 dsq_id, u64 enq_flags) __ksym __weak;
bool scx_bpf_dispatch_vtime_from_dsq___compat(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p,
					      u64 dsq_id, u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch_from_dsq_set_vtime___compat(struct bpf_iter_scx_dsq *it__iter, u64 vtime) __ksym __weak;

static __always_inline void dsq_insert(struct task_struct *p, u64 dsq, u64 slice, u64 flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert))
		scx_bpf_dsq_insert(p, dsq, slice, flags);
	else
		scx_bpf_dispatch___compat(p, dsq, slice, flags);
}

static __always_inline void dsq_insert_vtime(struct task_struct *p, u64 dsq, u64 slice, u64 vtime, u64 flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert_vtime))
		scx_bpf_dsq_insert_vtime(p, dsq, slice, vtime, flags);
	else
		scx_bpf_dispatch_vtime___compat(p, dsq, slice, vtime, flags);
}

static __always_inline bool dsq_move_to_local(u64 dsq)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local___v2))
		return scx_bpf_dsq_move_to_local___v2(dsq, 0);
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local))
		return scx_bpf_dsq_move_to_local(dsq);
	return scx_bpf_consume___compat(dsq);
}

/* Move @p, found by iterating @it, to the tail of the FIFO (or local) @dsq. */
static __always_inline bool dsq_move(struct bpf_iter_scx_dsq *it, struct task_struct *p, u64 dsq)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move))
		return scx_bpf_dsq_move(it, p, dsq, 0);
	return scx_bpf_dispatch_from_dsq___compat(it, p, dsq, 0);
}

/* Move @p, found by iterating @it, into the vtime-ordered @dsq at @vtime. */
static __always_inline bool dsq_move_vtime(struct bpf_iter_scx_dsq *it, struct task_struct *p, u64 dsq,
					   u64 vtime)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move_vtime)) {
		scx_bpf_dsq_move_set_vtime(it, vtime);
		return scx_bpf_dsq_move_vtime(it, p, dsq, 0);
	}
	scx_bpf_dispatch_from_dsq_set_vtime___compat(it, vtime);
	return scx_bpf_dispatch_vtime_from_dsq___compat(it, p, dsq, 0);
}

/* End @p's slice (7.x warns about writing p->scx.slice directly and offers a kfunc). */
static __always_inline void set_slice(struct task_struct *p, u64 slice)
{
	if (bpf_ksym_exists(scx_bpf_task_set_slice))
		scx_bpf_task_set_slice(p, slice);
	else
		p->scx.slice = slice;
}

/*
 * Claim an idle CPU in @mask for @p waking on @prev, or -1: topology-aware where the kernel
 * offers it (from ops.select_cpu only, which is where @in_select_cpu is true).
 */
static __always_inline s32 idle_cpu_in(struct task_struct *p, const struct cpumask *mask, s32 prev,
				       u64 wake_flags, bool in_select_cpu)
{
	s32 cpu;

	if (in_select_cpu && bpf_ksym_exists(scx_bpf_select_cpu_and)) {
		cpu = scx_bpf_select_cpu_and(p, prev, wake_flags, mask, 0);
		return cpu >= 0 ? cpu : -1;
	}
	if (prev >= 0 && bpf_cpumask_test_cpu(prev, mask) && scx_bpf_test_and_clear_cpu_idle(prev))
		return prev;
	cpu = scx_bpf_pick_idle_cpu(mask, SCX_PICK_IDLE_CORE);
	if (cpu >= 0)
		return cpu;
	return scx_bpf_pick_idle_cpu(mask, 0);
}

static __always_inline void reenqueue_local(void)
{
	if (bpf_ksym_exists(scx_bpf_reenqueue_local___v2))
		scx_bpf_reenqueue_local___v2();
	else
		scx_bpf_reenqueue_local();
}

/* ---- constants ---- */

/* Tier queues: index Q_* (the tier order), DSQ id = DSQ_TIER_BASE + index, one clock each. */
enum temper_queue {
	Q_CRITICAL = 0,
	Q_SHARED = 1,		/* High, Normal, and tasks of unknown cgroups */
	Q_LOW = 2,
	Q_BACKGROUND = 3,
	NR_DSQS = 4,
};

enum temper_dsq {
	DSQ_TIER_BASE = 0x7e000,	/* .. + NR_DSQS - 1 */
	DSQ_PARKED = 0x7f000,	/* tasks of cgroups out of CPU quota, least recently run first */
#ifdef TEMPER_BROKEN
	DSQ_NEVER_CONSUMED,
#endif
};

static __always_inline u64 dsq_id(u32 index)
{
	return DSQ_TIER_BASE + index % NR_DSQS;
}

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h; a #define, so not in BTF */

enum {
	VTIME_SHIFT = 24,
	MAX_CGROUP_DEPTH = 8,
	MAX_BW_LEVELS = 2,	/* a container's limit and its pod's */
	DEFAULT_SLICE_NS = 5000000ULL,
	DEFAULT_GUARD_NS = 200000000ULL,
	DEFAULT_WEIGHT = 100,
	MAX_CHARGE_NS = 1ULL << 32,	/* one charge/vtime step never exceeds ~4.3 s of CPU */
	AGE_NS = 1000000000ULL,		/* a task queued this long is run next, whatever its vtime */
	SWEEP_NS = 100000000ULL,	/* how often dispatch sweeps the queues for aged tasks */
	UNPARK_KICKS = 4,		/* CPUs kicked per queue for the tasks one unpark released */
};

/* ---- maps shared with the agent (layouts in temper.h) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TEMPER_MAX_CGROUPS);
	__type(key, u64);
	__type(value, struct temper_cgroup_entry);
} temper_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TEMPER_NR_TIERS);
	__type(key, u32);
	__type(value, struct temper_tier_config);
} temper_tiers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TEMPER_MAX_CPUS);
	__type(key, u32);
	__type(value, u32);
} temper_cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TEMPER_MAX_CPUS);
	__type(key, u32);
	__type(value, struct temper_cpu_topology);
} temper_topology SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct temper_global_config);
} temper_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TEMPER_NR_TIERS * TEMPER_NR_STATS);
	__type(key, u32);
	__type(value, u64);
} temper_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct temper_exit_record);
} temper_exitinfo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TEMPER_MAX_BW_CGROUPS);
	__type(key, u64);
	__type(value, struct temper_bw_config);
} temper_cpu_max SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TEMPER_MAX_BW_CGROUPS);
	__type(key, u64);
	__type(value, struct temper_bw_stats);
} temper_bw_stats SEC(".maps");

/* ---- private state ---- */

struct task_ctx {
	u64 generation;		/* config generation the tier was resolved at */
	u64 cgroup_id;		/* the task's cgroup when it was resolved */
	u64 vtime;
	u64 started_at;		/* when it last started running (order of DSQ_PARKED) */
	u64 run_base;		/* se.sum_exec_runtime when it started running (vtime) */
	u64 charged_runtime;	/* se.sum_exec_runtime when last charged to its cgroups' quota */
	u64 queued_at;		/* when it was last put in a tier queue (the aging sweep) */
	u64 bw_ids[MAX_BW_LEVELS];	/* nearest CPU-limited cgroups (0 = none) */
	u64 pod_id;		/* the temper_cgroups entry (pod cgroup) it resolved to, 0 = none */
	u64 runnable_at;	/* when its current wait for a CPU began, 0 = not waiting (telemetry) */
	u32 tier;
	u32 pod_weight;
	u32 dsq_index;		/* the queue whose clock vtime belongs to */
	u32 bw_epoch;		/* bw_epoch the limits were resolved at */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

struct cpu_ctx {
	u32 tier;		/* tier of the task running there */
	u32 busy;		/* 0 while idle or right after we kicked it */
	u32 offline;		/* between ops.cpu_offline and ops.cpu_online */
	u32 fence_critical;	/* 1 while a Critical task runs here and this CPU is fenced */
	s32 sibling;		/* its SMT sibling (temper_topology, as of the adopted generation), -1 = none */
} __attribute__((aligned(CACHELINE)));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TEMPER_MAX_CPUS);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

/* Each queue's clocks on their own cache line: every CPU writes them. */
struct queue_clock {
	u64 vtime_now;		/* vtime of the latest task started from the queue */
	u64 last_served;	/* ktime the queue was last served or found empty */
} __attribute__((aligned(CACHELINE)));

struct queue_clock queue_clocks[NR_DSQS];

/*
 * Queue @index's clock; an out-of-range index means SHARED. The barrier keeps clang from
 * dropping the bound check when it can prove it (the verifier cannot).
 */
static __always_inline struct queue_clock *clock_of(u32 index)
{
	barrier_var(index);
	if (index >= NR_DSQS)
		index = Q_SHARED;
	return &queue_clocks[index];
}
u32 nr_cpu_ids;
/* Bumped by cpu_online/cpu_offline: the cpumasks are rebuilt for the new topology. */
u64 hotplug_seq;

/* ---- small helpers ---- */

static __always_inline struct temper_global_config *global_config(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&temper_global, &zero);
}

static __always_inline u64 current_generation(void)
{
	struct temper_global_config *g = global_config();

	return g ? g->generation : 0;
}

static __always_inline struct temper_tier_config *tier_config(u32 tier)
{
	return bpf_map_lookup_elem(&temper_tiers, &tier);
}

static __always_inline u32 tier_flags(u32 tier)
{
	struct temper_tier_config *tc = tier_config(tier);

	return tc ? tc->flags : 0;
}

static __always_inline u64 tier_slice(u32 tier)
{
	struct temper_tier_config *tc = tier_config(tier);

	return tc && tc->slice_ns ? tc->slice_ns : DEFAULT_SLICE_NS;
}

static __always_inline void stat_inc(u32 tier, u32 stat)
{
	u32 key = tier * TEMPER_NR_STATS + stat;
	u64 *counter = bpf_map_lookup_elem(&temper_stats, &key);

	if (counter)
		(*counter)++;
}

static __always_inline struct cpu_ctx *cpu_ctx_of(s32 cpu)
{
	u32 key = cpu;

	return bpf_map_lookup_elem(&cpu_ctxs, &key);
}

static __always_inline struct task_ctx *task_ctx_of(struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, p, 0, 0);
}

static __always_inline u64 guard_ns(void)
{
	struct temper_global_config *g = global_config();

	return g && g->starvation_guard_ns ? g->starvation_guard_ns : DEFAULT_GUARD_NS;
}

/*
 * Put the task's vtime on queue @index's clock before it is queued there (or run straight
 * from a local insert, which advances that clock). Any task is at most one slice (at the
 * default weight) behind the clock - sleep banks no more credit than that, and a task that
 * lagged behind a clock leap (a low-weight task jumps it when it runs) cannot hold everyone
 * who wakes afterwards behind it - and at most one starvation guard ahead. A task coming
 * from another queue (its old vtime means nothing here: a new task, a pod the agent just
 * mapped) starts at that floor too, like a waking task: at the clock itself it would sit
 * behind every busy task the floor holds back (with weights of ~2,000-40,000 against the
 * floor's 100 the clock can stand still for many rounds), which kept a new kworker - the
 * watchdog's own work - waiting seconds behind 200 busy threads. Returns the vtime.
 */
static __always_inline u64 settle_vtime(struct task_ctx *tctx, u32 index, u64 slice)
{
	u64 now_v, floor, ceiling;

	if (index >= NR_DSQS)
		index = Q_SHARED;
	now_v = clock_of(index)->vtime_now;
	if (slice > MAX_CHARGE_NS)
		slice = MAX_CHARGE_NS;
	floor = now_v - (slice << VTIME_SHIFT) / DEFAULT_WEIGHT;
	ceiling = now_v + (guard_ns() << VTIME_SHIFT) / DEFAULT_WEIGHT;
	if (tctx->dsq_index != index) {
		tctx->vtime = floor;
		tctx->dsq_index = index;
	}
	if ((s64)(tctx->vtime - floor) < 0)
		tctx->vtime = floor;
	else if ((s64)(tctx->vtime - ceiling) > 0)
		tctx->vtime = ceiling;
	return tctx->vtime;
}

#endif /* __TEMPER_COMMON_BPF_H */
