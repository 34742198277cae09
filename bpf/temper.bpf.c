/* SPDX-License-Identifier: GPL-2.0 */
/*
 * temper.bpf.c - Temper's sched_ext scheduler: five QoS tiers, a fenced Critical CPU set,
 * idle cycles loaned to batch, preemption on protected wake-ups.
 *
 * WHAT IT IS
 * A tiered scheduler driven entirely by maps that the node agent updates live (temper.h).
 * Each task belongs to the tier of the nearest ancestor cgroup found in temper_cgroups (pod
 * cgroups; containers inherit). Tasks outside pod cgroups (kubelet, the runtime, sshd, ...)
 * are Normal. CPUs are FENCED (reserved for Critical) or SHARED (everyone else).
 *
 * DISPATCH QUEUES (all ordered by weighted virtual time)
 *   DSQ_CRITICAL   Critical tasks; consumed first by fenced CPUs (and by every CPU when
 *                  nothing is fenced).
 *   DSQ_SHARED     High and Normal (and tasks of unknown cgroups); consumed by shared CPUs,
 *                  and by fenced CPUs only while no Critical task is queued (borrowing).
 *   DSQ_LOW        Low: consumed by any CPU that has nothing protected to run.
 *   DSQ_BACKGROUND Background: same, after DSQ_LOW (Background yields to Low).
 * Virtual time advances by run time x 2^24 / weight, weight = tier weight x pod weight
 * (kubelet's cpu.weight from the pod's CPU request) x task weight (nice) / 100, so inside a
 * queue CPU time follows the pods' requests. A waking task's vtime is clamped to at most
 * one slice behind the queue's clock, so sleeping banks no credit.
 *
 * WAKE-UP (select_cpu)
 *   Critical:    an idle fenced CPU (prev first). Else a fenced CPU running a borrower (any
 *                non-Critical task): the task goes straight into that CPU's local queue with
 *                SCX_ENQ_PREEMPT, which ends the borrower's slice and reschedules at once.
 *   High/Normal: an idle shared CPU, else an idle fenced CPU (borrow), else a shared CPU
 *                running Low/Background, preempted the same way.
 *   Low/Bg:      an idle CPU anywhere, shared first; a Low wake-up may preempt Background.
 *                Batch never preempts anything else.
 *   Otherwise the task is queued (enqueue) and, if it is protected, a preemptible CPU is
 *   kicked with SCX_KICK_PREEMPT (the same path serves tasks re-queued without a wake-up).
 * Worked example, 4 CPUs, fence {3}: a memcached (Critical) thread wakes while a stress-ng
 * (Background) worker borrows CPU 3. No fenced CPU is idle; CPU 3 runs a borrower, so the
 * thread is inserted into CPU 3's local queue with SCX_ENQ_PREEMPT and runs as soon as the
 * wake-up returns. The worker goes back to DSQ_BACKGROUND and continues wherever a CPU
 * idles.
 *
 * STARVATION GUARD
 * Every dispatch first checks each queue: one that is non-empty and was last served more
 * than starvation_guard_ns ago (default 200 ms; 4x that for non-Critical queues on a fenced
 * CPU) is served before the normal order. So batch on a node saturated by protected work
 * still progresses, and a task whose affinity only allows CPUs of another role still runs -
 * far inside the kernel watchdog (timeout_ms 5 s).
 *
 * LIVE RECONFIGURATION
 * The agent writes temper_tiers, temper_cpus, temper_cgroups, then temper_global with a new
 * generation. Per-task tiers are cached with the generation and the cgroup they came from,
 * and re-resolved lazily when either changes; the fenced/shared cpumasks are rebuilt once
 * per generation. No detach is ever needed (enable_seq does not move).
 *
 * RACES IT ACCEPTS
 * - A plan change lands between two map writes: each entry is individually valid, and the
 *   generation (written last) makes every task re-resolve; the window is one apply.
 * - Two Critical wake-ups may pick the same borrower to kick; the second waits for the next
 *   fenced CPU to free up (it is first in line there).
 * - cpu_ctxs is read without locks; a stale entry costs at most a useless kick or a missed
 *   preemption that the next wake-up or slice end corrects.
 *
 * FAILURE MODES
 * Any BPF error or a watchdog stall ejects the scheduler: the kernel moves every task back to
 * the fair class. ops.exit records kind, code, reason and message in temper_exitinfo for the
 * agent to report. The agent holds the only reference to the struct_ops link, so its death
 * (even SIGKILL) detaches the scheduler too.
 *
 * KERNELS
 * Built once against a 7.x vmlinux.h (CO-RE); loads on 6.12 through the shims below, which
 * pick the 6.12 names (scx_bpf_dispatch*, scx_bpf_consume) when the 6.13+ ones are missing.
 *
 * PRODUCTION READINESS
 * Single global queue per tier (fine to a few dozen CPUs; per-LLC queues are the next step);
 * no NUMA awareness; per-task (not per-cgroup) fairness inside a queue.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "temper.h"

char _license[] SEC("license") = "GPL";

#define BPF_STRUCT_OPS(name, args...) SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ _Static_assert(!__builtin_constant_p(!!sym), #sym " must be __weak"); !!sym; })
#endif

/*
 * Open-coded iterator loops (bpf_iter_num, 6.4+): the verifier checks the body once instead
 * of unrolling up to TEMPER_MAX_CPUS iterations. Written out (no cleanup attribute: clang 16
 * emits no BTF for a kfunc only referenced that way), so bodies use break, never return.
 */
#define temper_iter_begin(it, i, start, end)                                              \
	bpf_iter_num_new(&(it), (start), (end));                                          \
	for (int *___n; (___n = bpf_iter_num_next(&(it))) && ((i) = *___n, 1);)
#define temper_iter_end(it) bpf_iter_num_destroy(&(it))

/* Linux 6.12 names of the dispatch kfuncs (renamed in 6.13 to scx_bpf_dsq_insert*, ...). */
void scx_bpf_dispatch___compat(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch_vtime___compat(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime,
				     u64 enq_flags) __ksym __weak;
bool scx_bpf_consume___compat(u64 dsq_id) __ksym __weak;

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
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local))
		return scx_bpf_dsq_move_to_local(dsq);
	return scx_bpf_consume___compat(dsq);
}

enum temper_dsq {
	DSQ_CRITICAL = 0x7e000,
	DSQ_SHARED,
	DSQ_LOW,
	DSQ_BACKGROUND,
#ifdef TEMPER_BROKEN
	DSQ_NEVER_CONSUMED,
#endif
};

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h; a #define, so not in BTF */

enum {
	NR_DSQS = 4,
	VTIME_SHIFT = 24,
	MAX_CGROUP_DEPTH = 8,
	DEFAULT_SLICE_NS = 5000000ULL,
	DEFAULT_GUARD_NS = 200000000ULL,
	DEFAULT_WEIGHT = 100,
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
} temper_bandwidth SEC(".maps");

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
	u64 started_at;
	u32 tier;
	u32 pod_weight;
	u32 dsq_index;
	u32 pad;
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
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TEMPER_MAX_CPUS);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

struct cpu_masks {
	struct bpf_cpumask __kptr *fenced;
	struct bpf_cpumask __kptr *shared;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_masks);
} masks SEC(".maps");

u64 masks_generation = ~0ULL;
u32 nr_fenced;
u32 nr_cpu_ids;
u64 vtime_now[NR_DSQS];
u64 last_served[NR_DSQS];

/* ---- helpers ---- */

static __always_inline const struct cpumask *cast_mask(struct bpf_cpumask *mask)
{
	return (const struct cpumask *)mask;
}

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

static __always_inline bool cpu_is_fenced(s32 cpu)
{
	u32 key = cpu;
	u32 *role;

	if (!nr_fenced)
		return false;
	role = bpf_map_lookup_elem(&temper_cpus, &key);
	return role && *role == TEMPER_CPU_FENCED;
}

static __always_inline u64 dsq_of_tier(u32 tier)
{
	switch (tier) {
	case TEMPER_TIER_CRITICAL:
		return DSQ_CRITICAL;
	case TEMPER_TIER_LOW:
		return DSQ_LOW;
	case TEMPER_TIER_BACKGROUND:
		return DSQ_BACKGROUND;
	default:
		return DSQ_SHARED;
	}
}

/* Rebuild the fenced/shared cpumasks from temper_cpus; once per generation. */
static void refresh_masks(u64 generation)
{
	struct bpf_cpumask *fenced, *shared, *old;
	struct cpu_masks *m;
	u32 zero = 0, count = 0;
	struct bpf_iter_num it;
	int cpu;

	if (generation == masks_generation)
		return;
	m = bpf_map_lookup_elem(&masks, &zero);
	if (!m)
		return;
	fenced = bpf_cpumask_create();
	if (!fenced)
		return;
	shared = bpf_cpumask_create();
	if (!shared) {
		bpf_cpumask_release(fenced);
		return;
	}
	temper_iter_begin(it, cpu, 0, nr_cpu_ids) {
		u32 key = cpu;
		u32 *role = generation ? bpf_map_lookup_elem(&temper_cpus, &key) : NULL;

		if (role && *role == TEMPER_CPU_FENCED) {
			bpf_cpumask_set_cpu(cpu, fenced);
			count++;
		} else {
			bpf_cpumask_set_cpu(cpu, shared);
		}
	}
	temper_iter_end(it);
	old = bpf_kptr_xchg(&m->fenced, fenced);
	if (old)
		bpf_cpumask_release(old);
	old = bpf_kptr_xchg(&m->shared, shared);
	if (old)
		bpf_cpumask_release(old);
	nr_fenced = count;
	masks_generation = generation;
}

/*
 * The tier of @p: cached per (generation, cgroup); otherwise the nearest ancestor cgroup in
 * temper_cgroups, else Normal. Only called from callbacks where @p's rq is locked
 * (select_cpu, enqueue), as scx_bpf_task_cgroup() requires.
 */
static u32 resolve_tier(struct task_struct *p, struct task_ctx *tctx, u64 generation)
{
	struct temper_cgroup_entry *entry;
	struct cgroup *cgrp, *ancestor;
	u32 tier = TEMPER_TIER_NORMAL, weight = DEFAULT_WEIGHT;
	struct bpf_iter_num it;
	u64 cgroup_id, id;
	int level, i;

	if (!bpf_ksym_exists(scx_bpf_task_cgroup))
		return TEMPER_TIER_NORMAL;
	cgrp = scx_bpf_task_cgroup(p);
	if (!cgrp)
		return TEMPER_TIER_NORMAL;
	cgroup_id = cgrp->kn->id;
	if (tctx->generation == generation && tctx->cgroup_id == cgroup_id) {
		bpf_cgroup_release(cgrp);
		return tctx->tier;
	}
	level = cgrp->level;
	temper_iter_begin(it, i, 0, MAX_CGROUP_DEPTH) {
		if (level - i < 1)
			break;
		ancestor = bpf_cgroup_ancestor(cgrp, level - i);
		if (!ancestor)
			continue;
		id = ancestor->kn->id;
		bpf_cgroup_release(ancestor);
		entry = bpf_map_lookup_elem(&temper_cgroups, &id);
		if (entry) {
			tier = entry->tier < TEMPER_NR_TIERS ? entry->tier : TEMPER_TIER_NORMAL;
			weight = entry->weight ? entry->weight : 1;
			break;
		}
	}
	temper_iter_end(it);
	bpf_cgroup_release(cgrp);
	tctx->generation = generation;
	tctx->cgroup_id = cgroup_id;
	tctx->tier = tier;
	tctx->pod_weight = weight;
	return tier;
}

static __always_inline struct task_ctx *task_ctx_of(struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, p, 0, 0);
}

static __always_inline u64 task_weight(struct task_struct *p, struct task_ctx *tctx)
{
	struct temper_tier_config *tc = tier_config(tctx->tier);
	u64 w = (tc && tc->weight ? tc->weight : DEFAULT_WEIGHT) * (u64)tctx->pod_weight * p->scx.weight / 100;

	return w ? w : 1;
}

/* Pick (and claim) an idle CPU in @mask, trying @prev first. -1 if none. */
static __always_inline s32 claim_idle(struct bpf_cpumask *mask, s32 prev)
{
	if (!mask)
		return -1;
	if (prev >= 0 && bpf_cpumask_test_cpu(prev, cast_mask(mask)) && scx_bpf_test_and_clear_cpu_idle(prev))
		return prev;
	return scx_bpf_pick_idle_cpu(cast_mask(mask), 0);
}

static s32 pick_idle_for_tier(u32 tier, s32 prev)
{
	struct cpu_masks *m;
	u32 zero = 0;
	s32 cpu = -1;

	m = bpf_map_lookup_elem(&masks, &zero);
	if (!m)
		return -1;
	bpf_rcu_read_lock();
	if (tier == TEMPER_TIER_CRITICAL && nr_fenced) {
		cpu = claim_idle(m->fenced, prev);
	} else {
		cpu = claim_idle(m->shared, prev);
		if (cpu < 0 && nr_fenced && (tier_flags(tier) & TEMPER_TF_BORROW_FENCED))
			cpu = claim_idle(m->fenced, prev);
	}
	bpf_rcu_read_unlock();
	return cpu;
}

static __always_inline bool may_preempt(u32 waker, u32 victim, bool on_fenced)
{
	if (on_fenced)
		return waker == TEMPER_TIER_CRITICAL && victim != TEMPER_TIER_CRITICAL;
	if (victim <= waker || !(tier_flags(victim) & TEMPER_TF_PREEMPTIBLE))
		return false;
	return (tier_flags(waker) & TEMPER_TF_PREEMPT) ||
	       (waker == TEMPER_TIER_LOW && victim == TEMPER_TIER_BACKGROUND);
}

/*
 * A CPU where a task of @tier may preempt what runs now (see may_preempt), trying @prefer
 * first, or -1. Claims it (busy = 0) so concurrent wake-ups spread over victims.
 */
static s32 find_victim(struct task_struct *p, u32 tier, s32 prefer)
{
	struct bpf_iter_num it;
	struct cpu_ctx *c;
	s32 victim = -1;
	int i;

	temper_iter_begin(it, i, -1, (int)nr_cpu_ids) {
		s32 cpu = i < 0 ? prefer : i;
		u32 key = cpu;
		bool fenced;

		if (cpu < 0 || (i >= 0 && cpu == prefer))
			continue;
		c = bpf_map_lookup_elem(&cpu_ctxs, &key);
		if (!c || !c->busy)
			continue;
		fenced = cpu_is_fenced(cpu);
		/* Critical with a fence only preempts on fenced CPUs; others only on shared ones. */
		if (tier == TEMPER_TIER_CRITICAL && nr_fenced && !fenced)
			continue;
		if (tier != TEMPER_TIER_CRITICAL && fenced)
			continue;
		if (!may_preempt(tier, c->tier, fenced) || !bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		c->busy = 0;
		victim = cpu;
		break;
	}
	temper_iter_end(it);
	return victim;
}

/* After queueing a task of @tier: wake an idle CPU for it, or kick a lower tier off one. */
static void kick_for(struct task_struct *p, u32 tier)
{
	s32 cpu = pick_idle_for_tier(tier, scx_bpf_task_cpu(p));

	if (cpu >= 0) {
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}
	cpu = find_victim(p, tier, scx_bpf_task_cpu(p));
	if (cpu >= 0) {
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
		stat_inc(tier, TEMPER_STAT_PREEMPT_KICK);
	}
}

/* ---- sched_ext callbacks ---- */

s32 BPF_STRUCT_OPS(temper_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	struct task_ctx *tctx = task_ctx_of(p);
	u64 generation = current_generation();
	bool is_idle = false;
	u32 tier;
	s32 cpu;

	if (!tctx)
		return prev_cpu;
#ifdef TEMPER_BROKEN
	return prev_cpu;
#endif
	refresh_masks(generation);
	tier = resolve_tier(p, tctx, generation);
	if (p->nr_cpus_allowed < nr_cpu_ids) {
		/* Restricted affinity (cpuset, taskset): the kernel's own idle search honours it. */
		cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
		if (is_idle) {
			dsq_insert(p, SCX_DSQ_LOCAL, tier_slice(tier), 0);
			stat_inc(tier, TEMPER_STAT_DIRECT);
		}
		return cpu;
	}
	cpu = pick_idle_for_tier(tier, prev_cpu);
	if (cpu >= 0) {
		dsq_insert(p, SCX_DSQ_LOCAL, tier_slice(tier), 0);
		stat_inc(tier, TEMPER_STAT_DIRECT);
		return cpu;
	}
	/*
	 * No idle CPU: go straight onto a CPU running something this task preempts. Inserting
	 * into that CPU's local queue with SCX_ENQ_PREEMPT zeroes the current task's slice and
	 * reschedules it at once - no deferred kick on the wake-up path.
	 */
	if (tier_flags(tier) & TEMPER_TF_PREEMPT || tier == TEMPER_TIER_LOW) {
		cpu = find_victim(p, tier, prev_cpu);
		if (cpu >= 0) {
			dsq_insert(p, SCX_DSQ_LOCAL, tier_slice(tier), SCX_ENQ_PREEMPT);
			stat_inc(tier, TEMPER_STAT_PREEMPT_KICK);
			return cpu;
		}
	}
	return prev_cpu;
}

void BPF_STRUCT_OPS(temper_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = task_ctx_of(p);
	u64 generation = current_generation();
	u64 dsq, vtime, floor, slice;
	struct cpu_masks *m;
	u32 tier, index, zero = 0;
	bool fallback = false;

#ifdef TEMPER_BROKEN
	dsq_insert(p, DSQ_NEVER_CONSUMED, DEFAULT_SLICE_NS, enq_flags);
	return;
#endif
	if (!tctx) {
		dsq_insert(p, DSQ_SHARED, DEFAULT_SLICE_NS, enq_flags);
		return;
	}
	refresh_masks(generation);
	tier = resolve_tier(p, tctx, generation);
	slice = tier_slice(tier);

	/* Per-CPU kernel threads run where they must, ahead of everything. */
	if ((p->flags & PF_KTHREAD) && p->nr_cpus_allowed == 1) {
		dsq_insert(p, SCX_DSQ_LOCAL, slice, enq_flags);
		return;
	}

	dsq = dsq_of_tier(tier);
	if (tier == TEMPER_TIER_CRITICAL && nr_fenced && p->nr_cpus_allowed < nr_cpu_ids) {
		m = bpf_map_lookup_elem(&masks, &zero);
		bpf_rcu_read_lock();
		if (m && m->fenced && !bpf_cpumask_intersects(cast_mask(m->fenced), p->cpus_ptr))
			fallback = true;
		bpf_rcu_read_unlock();
		if (fallback) {
			dsq = DSQ_SHARED;
			stat_inc(tier, TEMPER_STAT_FALLBACK);
		}
	}
	index = dsq - DSQ_CRITICAL;
	if (index >= NR_DSQS)
		index = 1;
	vtime = tctx->vtime;
	floor = vtime_now[index] - (slice << VTIME_SHIFT) / DEFAULT_WEIGHT;
	if ((s64)(vtime - floor) < 0)
		vtime = floor;
	tctx->vtime = vtime;
	tctx->dsq_index = index;
	dsq_insert_vtime(p, dsq, slice, vtime, enq_flags);
	stat_inc(tier, TEMPER_STAT_ENQUEUE);
	kick_for(p, tier);
}

static __always_inline bool serve(u32 index, u64 now)
{
	if (index >= NR_DSQS)
		return false;
	if (dsq_move_to_local(DSQ_CRITICAL + index)) {
		last_served[index] = now;
		return true;
	}
	return false;
}

void BPF_STRUCT_OPS(temper_dispatch, s32 cpu, struct task_struct *prev)
{
	struct temper_global_config *g = global_config();
	u64 now = bpf_ktime_get_ns();
	u64 guard = g && g->starvation_guard_ns ? g->starvation_guard_ns : DEFAULT_GUARD_NS;
	bool fenced;
	u32 i;

#ifdef TEMPER_BROKEN
	return;
#endif
	fenced = cpu_is_fenced(cpu);
	/*
	 * Starvation guard: a queue left waiting too long is served first, once. A fenced CPU is
	 * the last resort for other tiers' queues (shared CPUs serve them first), so it waits 4x
	 * longer for them - still far inside the watchdog - and a Critical task is not held up
	 * behind a batch slice every guard period.
	 */
	for (i = 0; i < NR_DSQS; i++) {
		if (scx_bpf_dsq_nr_queued(DSQ_CRITICAL + i) <= 0) {
			last_served[i] = now;
			continue;
		}
		if (now - last_served[i] > (fenced && i ? 4 * guard : guard) && serve(i, now)) {
			stat_inc(i == 0 ? TEMPER_TIER_CRITICAL : i + 1, TEMPER_STAT_STARVATION_GUARD);
			return;
		}
	}
	if (!fenced) {
		if ((!nr_fenced && serve(0, now)) || serve(1, now) || serve(2, now) || serve(3, now))
			return;
		return;
	}
	/* A fenced CPU: Critical first, then lend it to the tiers allowed to borrow. */
	if (serve(0, now))
		return;
	if ((tier_flags(TEMPER_TIER_NORMAL) & TEMPER_TF_BORROW_FENCED) && serve(1, now))
		return;
	if ((tier_flags(TEMPER_TIER_LOW) & TEMPER_TF_BORROW_FENCED) && serve(2, now))
		return;
	if (tier_flags(TEMPER_TIER_BACKGROUND) & TEMPER_TF_BORROW_FENCED)
		serve(3, now);
}

void BPF_STRUCT_OPS(temper_running, struct task_struct *p)
{
	struct task_ctx *tctx = task_ctx_of(p);
	u32 key = bpf_get_smp_processor_id();
	struct cpu_ctx *c;
	u32 index;

	if (!tctx)
		return;
	tctx->started_at = bpf_ktime_get_ns();
	index = tctx->dsq_index;
	if (index < NR_DSQS && (s64)(tctx->vtime - vtime_now[index]) > 0)
		vtime_now[index] = tctx->vtime;
	c = bpf_map_lookup_elem(&cpu_ctxs, &key);
	if (c) {
		c->tier = tctx->tier;
		c->busy = 1;
	}
	if (tctx->tier != TEMPER_TIER_CRITICAL && cpu_is_fenced(key))
		stat_inc(tctx->tier, TEMPER_STAT_BORROW);
}

void BPF_STRUCT_OPS(temper_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = task_ctx_of(p);
	u32 key = bpf_get_smp_processor_id();
	struct cpu_ctx *c;
	u64 used;

	if (!tctx)
		return;
	used = bpf_ktime_get_ns() - tctx->started_at;
	tctx->vtime += (used << VTIME_SHIFT) / task_weight(p, tctx);
	c = bpf_map_lookup_elem(&cpu_ctxs, &key);
	if (c)
		c->busy = 0;
}

s32 BPF_STRUCT_OPS(temper_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!tctx)
		return -12; /* -ENOMEM */
	tctx->generation = ~0ULL;
	tctx->tier = TEMPER_TIER_NORMAL;
	tctx->pod_weight = DEFAULT_WEIGHT;
	tctx->dsq_index = 1;
	return 0;
}

s32 BPF_STRUCT_OPS_SLEEPABLE(temper_init)
{
	u64 now = bpf_ktime_get_ns();
	s32 ret;
	u32 i;

	nr_cpu_ids = scx_bpf_nr_cpu_ids();
	if (nr_cpu_ids > TEMPER_MAX_CPUS)
		nr_cpu_ids = TEMPER_MAX_CPUS;
	for (i = 0; i < NR_DSQS; i++) {
		ret = scx_bpf_create_dsq(DSQ_CRITICAL + i, -1);
		if (ret)
			return ret;
		last_served[i] = now;
	}
#ifdef TEMPER_BROKEN
	ret = scx_bpf_create_dsq(DSQ_NEVER_CONSUMED, -1);
	if (ret)
		return ret;
#endif
	refresh_masks(current_generation());
	return 0;
}

void BPF_STRUCT_OPS(temper_exit, struct scx_exit_info *ei)
{
	u32 zero = 0;
	struct temper_exit_record *record = bpf_map_lookup_elem(&temper_exitinfo, &zero);

	if (!record)
		return;
	record->kind = ei->kind;
	record->exit_code = ei->exit_code;
	record->timestamp_ns = bpf_ktime_get_ns();
	bpf_probe_read_kernel_str(record->reason, sizeof(record->reason), ei->reason);
	bpf_probe_read_kernel_str(record->msg, sizeof(record->msg), ei->msg);
}

SEC(".struct_ops.link")
struct sched_ext_ops temper_ops = {
	.select_cpu = (void *)temper_select_cpu,
	.enqueue = (void *)temper_enqueue,
	.dispatch = (void *)temper_dispatch,
	.running = (void *)temper_running,
	.stopping = (void *)temper_stopping,
	.init_task = (void *)temper_init_task,
	.init = (void *)temper_init,
	.exit = (void *)temper_exit,
#ifdef TEMPER_BROKEN
	.timeout_ms = 1000,
	.name = "temper_broken",
#else
	.timeout_ms = 5000,
	.name = "temper",
#endif
};
