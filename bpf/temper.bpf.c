/* SPDX-License-Identifier: GPL-2.0 */
/*
 * temper.bpf.c - Temper's sched_ext scheduler, core tiers: five QoS tiers, a fenced Critical
 * CPU set, idle cycles loaned to batch, preemption on protected wake-ups. CPU limits live in
 * bandwidth.bpf.h, runqueue-wait telemetry in telemetry.bpf.h, the exit dump in dump.bpf.h,
 * shared definitions and kfunc shims in common.bpf.h.
 *
 * WHAT IT IS
 * A tiered scheduler driven entirely by maps that the node agent updates live (temper.h).
 * Each task belongs to the tier of the nearest ancestor cgroup found in temper_cgroups (pod
 * cgroups; containers inherit). Tasks outside pod cgroups (kubelet, the runtime, sshd, ...)
 * are Normal. CPUs are FENCED (reserved for Critical) or SHARED (everyone else).
 *
 * DISPATCH QUEUES (all ordered by weighted virtual time)
 *   CRITICAL       Critical tasks; consumed first by fenced CPUs (and by every CPU when
 *                  nothing is fenced).
 *   SHARED         High and Normal (and tasks of unknown cgroups); consumed by shared CPUs,
 *                  and by fenced CPUs only while no Critical task is queued (borrowing).
 *   LOW            Low: consumed by any CPU that has nothing protected to run.
 *   BACKGROUND     Background: same, after LOW (Background yields to Low).
 *   DSQ_PARKED     one FIFO of tasks whose cgroup is out of CPU quota (bandwidth.bpf.h).
 * One queue per tier for the whole node (per-LLC queues were tried and reverted: see
 * benchmarks/RESULTS.md); placement is topology-aware through the idle pick below.
 * Virtual time advances by run time x 2^24 / weight, weight = tier weight x pod weight
 * (kubelet's cpu.weight from the pod's CPU request) x task weight (nice) / 100, so inside a
 * queue CPU time follows the pods' requests. Each queue has its own clock; a task is put on
 * a queue's clock every time it is queued or run there (settle_vtime): a task that changed
 * queue (new pods run as Normal until the agent maps them; Critical with an affinity outside
 * the fence) starts one slice behind that queue's clock, like a waking task, and every task
 * is at most one slice behind it and at most one starvation guard ahead. Clocks are compared as signed differences only, so a
 * weight anywhere in 1..10^10 neither overflows (a step is capped at 2^32 ns x 2^24) nor
 * breaks ordering when the u64 wraps.
 *
 * WAKE-UP (select_cpu)
 *   Critical:    an idle fenced CPU (prev first). Else a fenced CPU running a borrower (any
 *                non-Critical task): the task goes straight into that CPU's local queue with
 *                SCX_ENQ_PREEMPT, which ends the current slice and reschedules at once.
 *                Overflow: only while every fenced CPU runs Critical work (the demand is
 *                above the fence), an idle shared CPU, else one running Low/Background, is
 *                used the same way, and shared CPUs serve CRITICAL after SHARED.
 *   High/Normal: an idle shared CPU, else an idle fenced CPU (borrow), else a shared CPU
 *                running Low/Background, preempted the same way.
 *   Low/Bg:      an idle CPU anywhere, shared first; a Low wake-up may preempt Background.
 *                Batch never preempts anything else.
 *   Otherwise the task is queued (enqueue) and, if it is protected, a preemptible CPU is
 *   kicked with SCX_KICK_PREEMPT (the same path serves tasks re-queued without a wake-up).
 *   "An idle CPU in a set" is topology-aware: on 6.16+ the kernel's own pick inside the set
 *   (scx_bpf_select_cpu_and: previous CPU, its idle core, its LLC, its node, anywhere);
 *   before that, and from enqueue, previous CPU, then a wholly idle core, then any.
 * Worked example, 4 CPUs, fence {3}: a memcached (Critical) thread wakes while a stress-ng
 * (Background) worker borrows CPU 3. No fenced CPU is idle; CPU 3 runs a borrower, so the
 * thread is inserted into CPU 3's local queue with SCX_ENQ_PREEMPT and runs as soon as the
 * wake-up returns. The worker goes back to BACKGROUND and continues wherever a CPU
 * idles.
 *
 * DISPATCH ORDER
 *   shared CPU:  SHARED, CRITICAL (first when nothing is fenced; after SHARED while the fence
 *                is saturated), LOW, BACKGROUND.
 *   fenced CPU:  CRITICAL, then the tiers allowed to borrow: SHARED, LOW, BACKGROUND.
 *   At a slice end the task that just ran (still runnable, within quota, allowed there) is
 *   kept in preference to any queue below its own (kept_queue): the kernel calls dispatch
 *   before it re-enqueues that task, so its own queue looks empty.
 *
 * SMT ISOLATION
 * The fence is whole cores. While a Critical task runs on a fenced CPU (cpu_ctx
 * fence_critical), its SMT sibling (temper_topology) is not lent to tiers flagged SMT_YIELD
 * (Low/Background by default: planner.smtIsolation): dispatch skips their queues there,
 * the idle pick hands such a sibling back, and a yielding task already on the sibling is
 * kicked when Critical starts. The starvation guard still applies, and shared CPUs serve
 * batch as always.
 *
 * STARVATION GUARD AND AGING
 * Every dispatch first checks each queue: one that is non-empty and was last served more
 * than starvation_guard_ns ago (default 200 ms; 4x that for non-Critical queues on a fenced
 * CPU) is served before the normal order. So batch on a node saturated by protected work
 * still progresses - far inside the kernel watchdog (timeout_ms 20 s). Timestamps are
 * compared as signed deltas: a clock read on one CPU that is older than another CPU's
 * last_served never looks like an ancient one. Inside a queue, vtime alone cannot bound a
 * wait when weights differ by orders of magnitude, so every 100 ms one dispatch sweeps the
 * queues and runs next (local queue of a CPU it may use) any task queued for 1 s or more.
 *
 * AFFINITY
 * Restricted tasks (cpusets, taskset, kubelet's static CPU manager) use the kernel's idle
 * search. A Critical task allowed no fenced CPU queues in SHARED; a non-Critical task
 * allowed only fenced CPUs goes to the local queue of one of them (it can run nowhere else,
 * and kubelet gave it those CPUs); both are counted as FALLBACK. The agent also removes
 * CPUs kubelet pinned to non-Critical pods from the fence, so this is the exception.
 *
 * KERNEL THREADS, RT, HOTPLUG
 * Per-CPU kthreads (ksoftirqd, bound kworkers) go to their CPU's local queue and preempt
 * Low/Background there, so work a Critical pod waits on is not stuck behind a batch slice.
 * When RT/deadline work takes a CPU (ops.cpu_release) the tasks queued on it locally are
 * re-enqueued and placed again. ops.cpu_online/cpu_offline keep a per-CPU online flag and
 * rebuild the fenced/shared masks (an offline fence shrinks; an empty one means everything
 * is shared) - hotplug never unloads the scheduler; the agent re-plans for the new topology.
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
 * Built once against a 7.x vmlinux.h (CO-RE); loads on 6.12..7.x through the shims in
 * common.bpf.h. temper_kbw.bpf.o (-DTEMPER_KERNEL_BW) adds the 6.17+ cgroup bandwidth
 * callbacks; the agent loads it where the kernel's sched_ext_ops has them.
 *
 * PRODUCTION READINESS
 * Single global queue per tier (fine to a few dozen CPUs; per-LLC queues are the next step);
 * victim search is linear in CPUs; per-task (not per-cgroup) fairness inside a queue.
 */
#include "common.bpf.h"
#include "telemetry.bpf.h"
#include "bandwidth.bpf.h"

char _license[] SEC("license") = "GPL";

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
u64 masks_hotplug_seq;
u32 nr_fenced;
u32 fence_critical_running;	/* fenced CPUs running a Critical task now */

static __always_inline const struct cpumask *cast_mask(struct bpf_cpumask *mask)
{
	return (const struct cpumask *)mask;
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

/* Critical overflows to shared CPUs only while every fenced CPU runs Critical work. */
static __always_inline bool fence_saturated(void)
{
	return nr_fenced && fence_critical_running >= nr_fenced;
}

static __always_inline u32 queue_of_tier(u32 tier)
{
	switch (tier) {
	case TEMPER_TIER_CRITICAL:
		return Q_CRITICAL;
	case TEMPER_TIER_LOW:
		return Q_LOW;
	case TEMPER_TIER_BACKGROUND:
		return Q_BACKGROUND;
	default:
		return Q_SHARED;
	}
}



/*
 * Rebuild the fenced/shared cpumasks from temper_cpus and the online CPUs (the kernel's mask,
 * and our own flag, which ops.cpu_offline sets before the kernel's mask changes).
 */
static void refresh_masks(u64 generation)
{
	struct bpf_cpumask *fenced, *shared, *old;
	const struct cpumask *online;
	u64 seq = hotplug_seq;
	struct cpu_masks *m;
	u32 zero = 0, count = 0;
	struct bpf_iter_num it;
	int cpu;

	if (generation == masks_generation && seq == masks_hotplug_seq)
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
	online = scx_bpf_get_online_cpumask();
	temper_iter_begin(it, cpu, 0, nr_cpu_ids) {
		u32 key = cpu;
		u32 *role = generation ? bpf_map_lookup_elem(&temper_cpus, &key) : NULL;
		struct temper_cpu_topology *topo = generation ? bpf_map_lookup_elem(&temper_topology, &key) : NULL;
		struct cpu_ctx *c = cpu_ctx_of(cpu);

		if (c)
			c->sibling = topo && topo->sibling >= 0 && topo->sibling < (s32)nr_cpu_ids ? topo->sibling : -1;
		if ((c && c->offline) || !bpf_cpumask_test_cpu(cpu, online))
			continue;
		if (role && *role == TEMPER_CPU_FENCED) {
			bpf_cpumask_set_cpu(cpu, fenced);
			count++;
		} else {
			bpf_cpumask_set_cpu(cpu, shared);
		}
	}
	temper_iter_end(it);
	scx_bpf_put_cpumask(online);
	old = bpf_kptr_xchg(&m->fenced, fenced);
	if (old)
		bpf_cpumask_release(old);
	old = bpf_kptr_xchg(&m->shared, shared);
	if (old)
		bpf_cpumask_release(old);
	nr_fenced = count;
	masks_generation = generation;
	masks_hotplug_seq = seq;
}

/* Record the nearest limited cgroup ids while walking up from the task's cgroup. */
static __always_inline void note_bw(struct task_ctx *tctx, u64 id, u32 *nbw, u64 now)
{
	if (*nbw >= MAX_BW_LEVELS || !bw_track(id, now))
		return;
	if (*nbw == 0)
		tctx->bw_ids[0] = id;
	else
		tctx->bw_ids[1] = id;
	(*nbw)++;
}

/*
 * The tier of @p: cached per (generation, bandwidth epoch, cgroup); otherwise the nearest
 * ancestor cgroup in temper_cgroups, else Normal. The same walk (leaf first, up to the pod)
 * collects the limited cgroups. Only called from callbacks where @p's rq is locked
 * (select_cpu, enqueue), as scx_bpf_task_cgroup() requires.
 */
static u32 resolve_tier(struct task_struct *p, struct task_ctx *tctx, u64 generation)
{
	struct temper_cgroup_entry *entry;
	struct cgroup *cgrp, *ancestor;
	u32 tier = TEMPER_TIER_NORMAL, weight = DEFAULT_WEIGHT, nbw = 0;
	u32 epoch = bw_epoch;
	u64 now, cgroup_id, id, pod = 0;
	struct bpf_iter_num it;
	int level, i;

	if (!bpf_ksym_exists(scx_bpf_task_cgroup))
		return TEMPER_TIER_NORMAL;
	cgrp = scx_bpf_task_cgroup(p);
	if (!cgrp)
		return TEMPER_TIER_NORMAL;
	cgroup_id = cgrp->kn->id;
	if (tctx->generation == generation && tctx->bw_epoch == epoch && tctx->cgroup_id == cgroup_id) {
		bpf_cgroup_release(cgrp);
		return tctx->tier;
	}
	now = bpf_ktime_get_ns();
	tctx->bw_ids[0] = 0;
	tctx->bw_ids[1] = 0;
	level = cgrp->level;
	temper_iter_begin(it, i, 0, MAX_CGROUP_DEPTH) {
		if (level - i < 1)
			break;
		ancestor = bpf_cgroup_ancestor(cgrp, level - i);
		if (!ancestor)
			continue;
		id = ancestor->kn->id;
		bpf_cgroup_release(ancestor);
		note_bw(tctx, id, &nbw, now);
		entry = bpf_map_lookup_elem(&temper_cgroups, &id);
		if (entry) {
			tier = entry->tier < TEMPER_NR_TIERS ? entry->tier : TEMPER_TIER_NORMAL;
			weight = entry->weight ? entry->weight : 1;
			pod = id;
			break;
		}
	}
	temper_iter_end(it);
	bpf_cgroup_release(cgrp);
	tctx->generation = generation;
	tctx->bw_epoch = epoch;
	tctx->cgroup_id = cgroup_id;
	tctx->pod_id = pod;
	tctx->tier = tier;
	tctx->pod_weight = weight;
	return tier;
}

static __always_inline u64 task_weight(struct task_struct *p, struct task_ctx *tctx)
{
	struct temper_tier_config *tc = tier_config(tctx->tier);
	u64 w = (tc && tc->weight ? tc->weight : DEFAULT_WEIGHT) * (u64)tctx->pod_weight * p->scx.weight / 100;

	return w ? w : 1;
}

/*
 * The vtime queue @p belongs in: its tier's, except a Critical task whose affinity excludes
 * every fenced CPU, which queues with High/Normal on the shared CPUs.
 */
static __always_inline bool needs_queue_check(struct task_struct *p, u32 tier)
{
	return tier == TEMPER_TIER_CRITICAL && nr_fenced && p->nr_cpus_allowed < nr_cpu_ids;
}

/* queue_of() for callers already inside an RCU read section (or a DSQ iteration). */
static u32 queue_of_rcu(struct task_struct *p, u32 tier)
{
	struct cpu_masks *m;
	u32 zero = 0;

	if (!needs_queue_check(p, tier))
		return queue_of_tier(tier);
	m = bpf_map_lookup_elem(&masks, &zero);
	if (m && m->fenced && !bpf_cpumask_intersects(cast_mask(m->fenced), p->cpus_ptr))
		return Q_SHARED;
	return Q_CRITICAL;
}

/* The tier queue (Q_*) a task of @tier belongs in, given its affinity. */
static u32 queue_of(struct task_struct *p, u32 tier)
{
	u32 index;

	if (!needs_queue_check(p, tier))
		return queue_of_tier(tier);
	bpf_rcu_read_lock();
	index = queue_of_rcu(p, tier);
	bpf_rcu_read_unlock();
	return index;
}

/* A CPU @p may use when it is allowed only fenced CPUs and is not Critical; else -1. */
static s32 fence_only_cpu(struct task_struct *p, u32 tier)
{
	struct cpu_masks *m;
	u32 zero = 0;
	s32 cpu = -1;

	if (tier == TEMPER_TIER_CRITICAL || !nr_fenced || p->nr_cpus_allowed >= nr_cpu_ids)
		return -1;
	m = bpf_map_lookup_elem(&masks, &zero);
	if (!m)
		return -1;
	bpf_rcu_read_lock();
	if (m->shared && !bpf_cpumask_intersects(cast_mask(m->shared), p->cpus_ptr)) {
		cpu = scx_bpf_task_cpu(p);
		if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			cpu = bpf_cpumask_first(p->cpus_ptr);
	}
	bpf_rcu_read_unlock();
	return cpu < (s32)nr_cpu_ids ? cpu : -1;
}

/* Claim an idle CPU in @mask for @p, preferring @prev (see idle_cpu_in). -1 if none. */
static __always_inline s32 claim_idle(struct task_struct *p, struct bpf_cpumask *mask, s32 prev, u64 wake_flags,
				      bool in_select_cpu)
{
	if (!mask)
		return -1;
	return idle_cpu_in(p, cast_mask(mask), prev, wake_flags, in_select_cpu);
}

static __always_inline bool sibling_runs_critical(s32 cpu);

/*
 * An idle CPU for a task of @tier (claimed), or -1. A tier that yields SMT siblings does not
 * borrow a fenced CPU whose sibling runs Critical: such a pick is handed back (kicked, so it
 * marks itself idle again) and the task queues instead.
 */
static s32 pick_idle_for_tier(struct task_struct *p, u32 tier, s32 prev, u64 wake_flags, bool in_select_cpu)
{
	struct cpu_masks *m;
	u32 zero = 0;
	s32 cpu = -1;

	m = bpf_map_lookup_elem(&masks, &zero);
	if (!m)
		return -1;
	bpf_rcu_read_lock();
	if (tier == TEMPER_TIER_CRITICAL && nr_fenced) {
		cpu = claim_idle(p, m->fenced, prev, wake_flags, in_select_cpu);
		if (cpu < 0 && fence_saturated())
			cpu = claim_idle(p, m->shared, prev, wake_flags, in_select_cpu); /* overflow */
	} else {
		cpu = claim_idle(p, m->shared, prev, wake_flags, in_select_cpu);
		if (cpu < 0 && nr_fenced && (tier_flags(tier) & TEMPER_TF_BORROW_FENCED)) {
			cpu = claim_idle(p, m->fenced, prev, wake_flags, in_select_cpu);
			if (cpu >= 0 && (tier_flags(tier) & TEMPER_TF_SMT_YIELD) && sibling_runs_critical(cpu)) {
				scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
				cpu = -1;
			}
		}
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
 * first, or -1. Critical prefers a borrower on the fence and falls back to batch on a shared
 * CPU; other tiers preempt only on shared CPUs. Claims it (busy = 0) so concurrent wake-ups
 * spread over victims. @p NULL: any CPU (tasks released from parking: kick_released).
 */
static s32 find_victim(struct task_struct *p, u32 tier, s32 prefer)
{
	struct bpf_iter_num it;
	struct cpu_ctx *c;
	s32 victim = -1, spare = -1;
	int i;

	temper_iter_begin(it, i, -1, (int)nr_cpu_ids) {
		s32 cpu = i < 0 ? prefer : i;
		bool fenced;

		if (cpu < 0 || (i >= 0 && cpu == prefer))
			continue;
		c = cpu_ctx_of(cpu);
		if (!c || !c->busy || c->offline)
			continue;
		fenced = cpu_is_fenced(cpu);
		if (tier != TEMPER_TIER_CRITICAL && fenced)
			continue;
		if (!may_preempt(tier, c->tier, fenced) || (p && !bpf_cpumask_test_cpu(cpu, p->cpus_ptr)))
			continue;
		if (tier == TEMPER_TIER_CRITICAL && nr_fenced && !fenced) {
			if (spare < 0)
				spare = cpu;
			continue;
		}
		victim = cpu;
		break;
	}
	temper_iter_end(it);
	if (victim < 0 && fence_saturated())
		victim = spare;
	if (victim >= 0) {
		c = cpu_ctx_of(victim);
		if (c)
			c->busy = 0;
	}
	return victim;
}

/* After queueing a task of @tier: wake an idle CPU for it, or kick a lower tier off one. */
static void kick_for(struct task_struct *p, u32 tier)
{
	s32 cpu = pick_idle_for_tier(p, tier, scx_bpf_task_cpu(p), 0, false);

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

/* The tier whose preemption rights the tasks of queue @index have (SHARED: High and Normal alike). */
static __always_inline u32 tier_of_queue(u32 index)
{
	switch (index) {
	case Q_CRITICAL:
		return TEMPER_TIER_CRITICAL;
	case Q_LOW:
		return TEMPER_TIER_LOW;
	case Q_BACKGROUND:
		return TEMPER_TIER_BACKGROUND;
	default:
		return TEMPER_TIER_NORMAL;
	}
}

/*
 * After bw_unpark put tasks back on their queues: wake or preempt for them as their wake-ups
 * would (an idle CPU of their side of the fence, else a CPU whose tier they preempt). Without
 * this, a limited pod refilled on a node saturated by batch waits for a batch slice end on
 * every CPU, period after period. At most UNPARK_KICKS CPUs per queue and refill.
 */
static void kick_released(struct bw_released *released)
{
	struct bpf_iter_num kicks;
	struct cpu_masks *m;
	u32 zero = 0, index, tier, exhausted = 0;
	s32 cpu;
	int s;

	m = bpf_map_lookup_elem(&masks, &zero);
	if (!m)
		return;
	/* One bounded iterator over (queue, kick) pairs: the verifier's loop check wants that. */
	temper_iter_begin(kicks, s, 0, NR_DSQS * UNPARK_KICKS) {
		index = ((u32)s / UNPARK_KICKS) % NR_DSQS;
		if ((u32)s % UNPARK_KICKS >= released->tasks[index] || (exhausted & (1U << index)))
			continue;
		tier = tier_of_queue(index);
		bpf_rcu_read_lock();
		if (tier == TEMPER_TIER_CRITICAL && nr_fenced)
			cpu = m->fenced ? scx_bpf_pick_idle_cpu(cast_mask(m->fenced), 0) : -1;
		else
			cpu = m->shared ? scx_bpf_pick_idle_cpu(cast_mask(m->shared), 0) : -1;
		bpf_rcu_read_unlock();
		if (cpu >= 0) {
			scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
			continue;
		}
		cpu = find_victim(NULL, tier, -1);
		if (cpu < 0) {
			exhausted |= 1U << index;
			continue;
		}
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
		stat_inc(tier, TEMPER_STAT_PREEMPT_KICK);
	}
	temper_iter_end(kicks);
}

/* Run @p from @cpu's local queue now: its vtime joins its tier queue's clock there first. */
static __always_inline void insert_local(struct task_struct *p, struct task_ctx *tctx, s32 cpu, u64 slice,
					 u64 flags, u32 stat)
{
	settle_vtime(tctx, queue_of(p, tctx->tier), slice);
	dsq_insert(p, SCX_DSQ_LOCAL, slice, flags);
	stat_inc(tctx->tier, stat);
}

/* Whether @cpu may go on running a task of @tier (ENQ_LAST: nothing else to run there). */
static __always_inline bool may_keep_running(s32 cpu, u32 tier)
{
	if (tier == TEMPER_TIER_CRITICAL || !cpu_is_fenced(cpu))
		return true;
	if (!(tier_flags(tier) & TEMPER_TF_BORROW_FENCED))
		return false;
	return !((tier_flags(tier) & TEMPER_TF_SMT_YIELD) && sibling_runs_critical(cpu));
}

/* ---- sched_ext callbacks ---- */

s32 BPF_STRUCT_OPS(temper_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	struct task_ctx *tctx = task_ctx_of(p);
	u64 generation = current_generation();
	bool is_idle = false;
	u64 slice;
	u32 tier;
	s32 cpu;

	if (!tctx)
		return prev_cpu;
#ifdef TEMPER_BROKEN
	return prev_cpu;
#endif
	refresh_masks(generation);
	tier = resolve_tier(p, tctx, generation);
	if (bw_throttled(tctx))
		return prev_cpu; /* enqueue parks it */
	slice = bw_slice(tctx, tier_slice(tier));
	if (p->nr_cpus_allowed < nr_cpu_ids) {
		/* Restricted affinity (cpuset, taskset): the kernel's own idle search honours it. */
		cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
		if (is_idle)
			insert_local(p, tctx, cpu, slice, 0, TEMPER_STAT_DIRECT);
		return cpu;
	}
	cpu = pick_idle_for_tier(p, tier, prev_cpu, wake_flags, true);
	if (cpu >= 0) {
		insert_local(p, tctx, cpu, slice, 0, TEMPER_STAT_DIRECT);
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
			insert_local(p, tctx, cpu, slice, SCX_ENQ_PREEMPT, TEMPER_STAT_PREEMPT_KICK);
			return cpu;
		}
	}
	return prev_cpu;
}

void BPF_STRUCT_OPS(temper_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = task_ctx_of(p);
	u64 generation = current_generation();
	u64 vtime, slice, flags;
	struct cpu_ctx *c;
	u32 tier, index;
	s32 cpu;

#ifdef TEMPER_BROKEN
	dsq_insert(p, DSQ_NEVER_CONSUMED, DEFAULT_SLICE_NS, enq_flags);
	return;
#endif
	if (!tctx) {
		dsq_insert(p, dsq_id(Q_SHARED), DEFAULT_SLICE_NS, enq_flags);
		return;
	}
	refresh_masks(generation);
	tier = resolve_tier(p, tctx, generation);
	slice = bw_slice(tctx, tier_slice(tier));
	if (enq_flags & SCX_ENQ_REENQ)
		stat_inc(tier, TEMPER_STAT_REENQUEUED);

	/*
	 * Per-CPU kernel threads (ksoftirqd, per-CPU kworkers: timers, the watchdog's own work)
	 * run where they must, next on that CPU - ahead of aged tasks already in its local
	 * queue - and preempt batch.
	 */
	if ((p->flags & PF_KTHREAD) && p->nr_cpus_allowed == 1) {
		flags = enq_flags | SCX_ENQ_HEAD;
		c = cpu_ctx_of(scx_bpf_task_cpu(p));
		if (c && c->busy && c->tier >= TEMPER_TIER_LOW)
			flags |= SCX_ENQ_PREEMPT;
		dsq_insert(p, SCX_DSQ_LOCAL, slice, flags);
		return;
	}
	if (bw_throttled(tctx)) {
		wait_cancel(tctx);
		dsq_insert_vtime(p, DSQ_PARKED, slice, tctx->started_at, enq_flags);
		stat_inc(tier, TEMPER_STAT_THROTTLED);
		return;
	}
	/*
	 * ENQ_LAST: the kernel asks only after this CPU's dispatch found nothing else it may run,
	 * and does not dispatch again - a task queued here now would wait for some other event
	 * (tens of ms on an idle node). So, if this CPU may still run it (not a borrower that must
	 * leave a fenced CPU: dispatch finding nothing may mean it refused the task's tier), it
	 * goes back to this CPU's local queue, on its clock, and the CPU is kicked: the kick is
	 * deferred until the rq lock is dropped, so even if the CPU is already switching to idle
	 * it reschedules and picks the task up.
	 */
	if ((enq_flags & SCX_ENQ_LAST) && may_keep_running(scx_bpf_task_cpu(p), tier)) {
		cpu = scx_bpf_task_cpu(p);
		settle_vtime(tctx, queue_of(p, tier), slice);
		dsq_insert(p, SCX_DSQ_LOCAL, slice, enq_flags);
		scx_bpf_kick_cpu(cpu, 0);
		return;
	}
	cpu = fence_only_cpu(p, tier);
	if (cpu >= 0) {
		settle_vtime(tctx, queue_of_tier(tier), slice);
		dsq_insert(p, SCX_DSQ_LOCAL_ON | cpu, slice, enq_flags);
		stat_inc(tier, TEMPER_STAT_FALLBACK);
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}
	index = queue_of(p, tier);
	if (tier == TEMPER_TIER_CRITICAL && index != Q_CRITICAL)
		stat_inc(tier, TEMPER_STAT_FALLBACK);
	vtime = settle_vtime(tctx, index, slice);
	/*
	 * Kernel threads of the root cgroup (RCU's grace-period thread, unbound kworkers,
	 * kcompactd) go to the head of their queue: under the fair class they compete with
	 * each pod cgroup as a whole, here a pod's 200 threads would each count as one peer,
	 * and an RCU thread left waiting behind them is an RCU stall - which ejects us.
	 */
	if (p->flags & PF_KTHREAD) {
		vtime = clock_of(index)->vtime_now - ((2 * slice) << VTIME_SHIFT) / DEFAULT_WEIGHT;
		tctx->vtime = vtime;
	}
	tctx->queued_at = bpf_ktime_get_ns();
	dsq_insert_vtime(p, dsq_id(index), slice, vtime, enq_flags);
	stat_inc(tier, TEMPER_STAT_ENQUEUE);
	kick_for(p, tier);
}

u64 swept_at;		/* when the aging sweep last ran */

/*
 * A CPU @p (of @tier) may run on: its current one if allowed - but a non-Critical task last
 * on a fenced CPU goes to a shared one it may use, if any (aging must not put batch in the
 * fence's local queue, ahead of Critical and beside a Critical SMT sibling). Caller in an
 * RCU read section.
 */
static __always_inline s32 allowed_cpu(struct task_struct *p, u32 tier)
{
	s32 cpu = scx_bpf_task_cpu(p), shared;
	struct cpu_masks *m;
	u32 zero = 0;

	if (tier != TEMPER_TIER_CRITICAL && cpu_is_fenced(cpu)) {
		m = bpf_map_lookup_elem(&masks, &zero);
		if (m && m->shared) {
			shared = bpf_cpumask_any_and_distribute(cast_mask(m->shared), p->cpus_ptr);
			if (shared >= 0 && shared < (s32)nr_cpu_ids)
				return shared;
		}
	}
	if (bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
		return cpu;
	return bpf_cpumask_first(p->cpus_ptr);
}

/*
 * From ops.dispatch: one pass over the tier queues that
 *   - parks the queued tasks of cgroups that ran out of quota (after throttle_seq moved),
 *   - runs next every task queued for AGE_NS or more, on a CPU it may use (every SWEEP_NS).
 * Aging is what bounds a task's wait whatever the weights: a nice-19 kthread (task weight 1)
 * queued behind 200 busy tasks of weight 2000 would wait far past the watchdog on
 * vtime alone. One CPU sweeps at a time.
 */
static void sweep_queues(u64 now)
{
	u64 seq = throttle_seq, done = park_done, last = swept_at;
	bool park = seq != done, age = (s64)(now - last) >= (s64)SWEEP_NS;
	struct bpf_iter_scx_dsq it;
	struct task_struct *p;
	struct task_ctx *tctx;
	struct bpf_iter_num queues;
	s32 cpu;
	int i;

	if (park && __sync_val_compare_and_swap(&park_done, done, seq) != done)
		park = false;
	if (age && __sync_val_compare_and_swap(&swept_at, last, now) != last)
		age = false;
	if (!park && !age)
		return;
	temper_iter_begin(queues, i, 0, NR_DSQS) {
		if (scx_bpf_dsq_nr_queued(dsq_id(i)) <= 0)
			continue;
		bpf_iter_scx_dsq_new(&it, dsq_id(i), 0);
		while ((p = bpf_iter_scx_dsq_next(&it))) {
			tctx = task_ctx_of(p);
			if (!tctx)
				continue;
			if (park && bw_throttled(tctx)) {
				wait_cancel(tctx);
				if (dsq_move_vtime(&it, p, DSQ_PARKED, tctx->started_at))
					stat_inc(tctx->tier, TEMPER_STAT_THROTTLED);
				continue;
			}
			if (!age || (s64)(now - tctx->queued_at) < (s64)AGE_NS)
				continue;
			cpu = allowed_cpu(p, tctx->tier);
			if (cpu >= 0 && cpu < (s32)nr_cpu_ids && dsq_move(&it, p, SCX_DSQ_LOCAL_ON | cpu)) {
				stat_inc(tctx->tier, TEMPER_STAT_STARVATION_GUARD);
				scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
			}
		}
		bpf_iter_scx_dsq_destroy(&it);
	}
	temper_iter_end(queues);
}

static __always_inline bool serve(u32 index, u64 now)
{
	if (index >= NR_DSQS)
		return false;
	if (dsq_move_to_local(dsq_id(index))) {
		clock_of(index)->last_served = now;
		return true;
	}
	return false;
}

static __always_inline bool may_borrow(u32 index)
{
	switch (index) {
	case 1:
		return (tier_flags(TEMPER_TIER_HIGH) | tier_flags(TEMPER_TIER_NORMAL)) & TEMPER_TF_BORROW_FENCED;
	case 2:
		return tier_flags(TEMPER_TIER_LOW) & TEMPER_TF_BORROW_FENCED;
	case 3:
		return tier_flags(TEMPER_TIER_BACKGROUND) & TEMPER_TF_BORROW_FENCED;
	default:
		return false;
	}
}

/* Whether the tasks of queue @index yield a fenced CPU whose SMT sibling runs Critical. */
static __always_inline bool queue_yields_smt(u32 index)
{
	switch (index) {
	case 1:
		return (tier_flags(TEMPER_TIER_HIGH) | tier_flags(TEMPER_TIER_NORMAL)) & TEMPER_TF_SMT_YIELD;
	case 2:
		return tier_flags(TEMPER_TIER_LOW) & TEMPER_TF_SMT_YIELD;
	case 3:
		return tier_flags(TEMPER_TIER_BACKGROUND) & TEMPER_TF_SMT_YIELD;
	default:
		return false;
	}
}

static __always_inline bool sibling_runs_critical(s32 cpu)
{
	struct cpu_ctx *c = cpu_ctx_of(cpu), *sib;

	if (!c || c->sibling < 0)
		return false;
	sib = cpu_ctx_of(c->sibling);
	return sib && sib->fence_critical;
}

/*
 * The queue of @prev if it may go on running on @cpu - its slice ended, it is still runnable,
 * within its quota and allowed here (may_keep_running) - else NR_DSQS. Dispatch runs before
 * the kernel re-enqueues such a task, so its own queue looks empty: without this, every slice
 * end of the only Normal task on a CPU would pull a batch task ahead of it (which it waits a
 * whole batch slice behind: it cannot preempt a CPU that is between tasks), and every slice
 * end of a busy Critical task would lend the fence. Dispatch serves queued tasks of @prev's
 * own queue and above first, then keeps @prev rather than serve a lower queue (nothing is
 * inserted, so ENQ_LAST puts it straight back on this CPU's local queue).
 */
static __always_inline u32 kept_queue(struct task_struct *prev, s32 cpu)
{
	struct task_ctx *tctx;

	if (!prev || !(prev->scx.flags & SCX_TASK_QUEUED))
		return NR_DSQS;
	tctx = task_ctx_of(prev);
	if (!tctx || bw_throttled(tctx) || !may_keep_running(cpu, tctx->tier))
		return NR_DSQS;
	return queue_of(prev, tctx->tier);
}

void BPF_STRUCT_OPS(temper_dispatch, s32 cpu, struct task_struct *prev)
{
	u64 now = bpf_ktime_get_ns();
	u64 guard = guard_ns();
	struct bpf_iter_num queues;
	struct bw_released released = {};
	bool fenced, smt_busy, guarded = false;
	u32 i, kept;
	int s;

#ifdef TEMPER_BROKEN
	return;
#endif
	if (nr_bw_cgroups) {
		bw_watchdog(now);
		if (bw_unpark(now, &released))
			kick_released(&released);
	}
	sweep_queues(now);
	fenced = cpu_is_fenced(cpu);
	/*
	 * Starvation guard: a queue left waiting too long is served first, once. A fenced CPU is
	 * the last resort for other tiers' queues (shared CPUs serve them first), so it waits 4x
	 * longer for them - still far inside the watchdog - and a Critical task is not held up
	 * behind a batch slice every guard period.
	 */
	temper_iter_begin(queues, s, 0, NR_DSQS) {
		u32 index = (u32)s % NR_DSQS;
		s64 waited;

		if (scx_bpf_dsq_nr_queued(dsq_id(index)) <= 0) {
			clock_of(index)->last_served = now;
			continue;
		}
		waited = (s64)(now - clock_of(index)->last_served);
		if (waited > (s64)(fenced && index ? 4 * guard : guard) && serve(index, now)) {
			stat_inc(index == 0 ? TEMPER_TIER_CRITICAL : index + 1, TEMPER_STAT_STARVATION_GUARD);
			guarded = true;
			break;
		}
	}
	temper_iter_end(queues);
	if (guarded)
		return;
	kept = kept_queue(prev, cpu);
	if (!fenced) {
		if (!nr_fenced && (serve(Q_CRITICAL, now) || kept == Q_CRITICAL))
			return;
		if (serve(Q_SHARED, now) || kept <= Q_SHARED)
			return;
		if ((fence_saturated() && serve(Q_CRITICAL, now)) || serve(Q_LOW, now) || kept == Q_LOW)
			return;
		serve(Q_BACKGROUND, now);
		return;
	}
	/*
	 * A fenced CPU: Critical first, then lend it to the tiers allowed to borrow - except,
	 * while Critical runs on its SMT sibling, to the tiers that yield to it (batch would
	 * halve the Critical thread's core: shared execution units, L1/L2).
	 */
	/*
	 * A busy Critical task keeps its fenced CPU at slice end (kept_queue): lending it there
	 * would hand the CPU - and, with SMT, its sibling - to batch at every slice end and take
	 * it back with a preemption.
	 */
	if (serve(Q_CRITICAL, now) || kept == Q_CRITICAL)
		return;
	smt_busy = sibling_runs_critical(cpu);
	for (i = Q_SHARED; i < NR_DSQS; i++) {
		if ((may_borrow(i) && !(smt_busy && queue_yields_smt(i)) && serve(i, now)) || kept == i)
			return;
	}
}

/* Critical started on a fenced CPU: kick a yielding tier off its (fenced) SMT sibling. */
static __always_inline void clear_smt_sibling(s32 sibling)
{
	struct cpu_ctx *sib;

	if (sibling < 0 || !cpu_is_fenced(sibling))
		return;
	sib = cpu_ctx_of(sibling);
	if (!sib || !sib->busy || sib->tier == TEMPER_TIER_CRITICAL || !(tier_flags(sib->tier) & TEMPER_TF_SMT_YIELD))
		return;
	sib->busy = 0;
	scx_bpf_kick_cpu(sibling, SCX_KICK_PREEMPT);
}

/* A task became runnable (a wake-up): its runqueue wait starts (telemetry.bpf.h). */
void BPF_STRUCT_OPS(temper_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = task_ctx_of(p);

	if (tctx)
		wait_begin(tctx, bpf_ktime_get_ns());
}

void BPF_STRUCT_OPS(temper_running, struct task_struct *p)
{
	struct task_ctx *tctx = task_ctx_of(p);
	s32 cpu = bpf_get_smp_processor_id();
	struct cpu_ctx *c;
	u32 index;
	u64 now;

	if (!tctx)
		return;
	now = bpf_ktime_get_ns();
	wait_end(tctx, now);
	tctx->started_at = now;
	tctx->run_base = p->se.sum_exec_runtime;
	tctx->charged_runtime = tctx->run_base;
	index = tctx->dsq_index;
	if (index < NR_DSQS && (s64)(tctx->vtime - clock_of(index)->vtime_now) > 0)
		clock_of(index)->vtime_now = tctx->vtime;
	c = cpu_ctx_of(cpu);
	if (c) {
		c->tier = tctx->tier;
		c->busy = 1;
		if (tctx->tier == TEMPER_TIER_CRITICAL && cpu_is_fenced(cpu) && !c->fence_critical) {
			c->fence_critical = 1;
			__sync_fetch_and_add(&fence_critical_running, 1);
			clear_smt_sibling(c->sibling);
		}
	}
	if (tctx->tier != TEMPER_TIER_CRITICAL && cpu_is_fenced(cpu))
		stat_inc(tctx->tier, TEMPER_STAT_BORROW);
	else if (tctx->tier == TEMPER_TIER_CRITICAL && nr_fenced && !cpu_is_fenced(cpu))
		stat_inc(tctx->tier, TEMPER_STAT_OVERFLOW);
}

void BPF_STRUCT_OPS(temper_tick, struct task_struct *p)
{
	struct task_ctx *tctx = task_ctx_of(p);

	if (!tctx || !bw_limited(tctx))
		return;
	bw_charge(p, tctx, bpf_ktime_get_ns());
	if (bw_throttled(tctx))
		set_slice(p, 0);
}

void BPF_STRUCT_OPS(temper_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = task_ctx_of(p);
	struct cpu_ctx *c;
	u64 now, used;

	if (!tctx)
		return;
	now = bpf_ktime_get_ns();
	bw_charge(p, tctx, now);
	used = p->se.sum_exec_runtime - tctx->run_base;
	if ((s64)used < 0)
		used = 0;
	if (used > MAX_CHARGE_NS)
		used = MAX_CHARGE_NS;
	tctx->vtime += (used << VTIME_SHIFT) / task_weight(p, tctx);
	if (runnable)
		wait_begin(tctx, now);
	c = cpu_ctx_of(bpf_get_smp_processor_id());
	if (c) {
		c->busy = 0;
		if (c->fence_critical) {
			c->fence_critical = 0;
			__sync_fetch_and_add(&fence_critical_running, -1);
		}
	}
}

void BPF_STRUCT_OPS(temper_cpu_release, s32 cpu, struct scx_cpu_release_args *args)
{
	/* RT/deadline work took the CPU: place what was queued on it again, elsewhere. */
	reenqueue_local();
}

void BPF_STRUCT_OPS(temper_cpu_online, s32 cpu)
{
	struct cpu_ctx *c = cpu_ctx_of(cpu);

	if (c)
		c->offline = 0;
	__sync_fetch_and_add(&hotplug_seq, 1);
}

void BPF_STRUCT_OPS(temper_cpu_offline, s32 cpu)
{
	struct cpu_ctx *c = cpu_ctx_of(cpu);

	if (c) {
		c->offline = 1;
		c->busy = 0;
	}
	__sync_fetch_and_add(&hotplug_seq, 1);
}

s32 BPF_STRUCT_OPS(temper_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!tctx)
		return -12; /* -ENOMEM */
	tctx->generation = ~0ULL;
	tctx->tier = TEMPER_TIER_NORMAL;
	tctx->pod_weight = DEFAULT_WEIGHT;
	tctx->dsq_index = Q_SHARED;
	tctx->vtime = queue_clocks[Q_SHARED].vtime_now;
	return 0;
}

#ifdef TEMPER_KERNEL_BW
s32 BPF_STRUCT_OPS_SLEEPABLE(temper_cgroup_init, struct cgroup *cgrp, struct scx_cgroup_init_args *args)
{
	bw_kernel_set(cgrp, args->bw_period_us, args->bw_quota_us, args->bw_burst_us);
	return 0;
}

void BPF_STRUCT_OPS(temper_cgroup_exit, struct cgroup *cgrp)
{
	u64 id = cgrp->kn->id;

	bpf_map_delete_elem(&bw_kernel, &id);
}

void BPF_STRUCT_OPS(temper_cgroup_set_bandwidth, struct cgroup *cgrp, u64 period_us, u64 quota_us, u64 burst_us)
{
	bw_kernel_set(cgrp, period_us, quota_us, burst_us);
}
#endif

s32 BPF_STRUCT_OPS_SLEEPABLE(temper_init)
{
	u64 now = bpf_ktime_get_ns();
	s32 ret;
	u32 i;

	nr_cpu_ids = scx_bpf_nr_cpu_ids();
	if (nr_cpu_ids > TEMPER_MAX_CPUS)
		nr_cpu_ids = TEMPER_MAX_CPUS;
	for (i = 0; i < NR_DSQS; i++) {
		ret = scx_bpf_create_dsq(dsq_id(i), -1);
		if (ret)
			return ret;
		clock_of(i)->last_served = now;
	}
	ret = scx_bpf_create_dsq(DSQ_PARKED, -1);
	if (ret)
		return ret;
#ifdef TEMPER_BROKEN
	ret = scx_bpf_create_dsq(DSQ_NEVER_CONSUMED, -1);
	if (ret)
		return ret;
#endif
	refresh_masks(current_generation());
	bw_arm();
	telemetry_keep_maps();
	return 0;
}

void BPF_STRUCT_OPS(temper_exit, struct scx_exit_info *ei)
{
	u32 zero = 0;
	struct temper_exit_record *record = bpf_map_lookup_elem(&temper_exitinfo, &zero);
	struct bw_timer *t = bpf_map_lookup_elem(&temper_timers, &zero);

	if (t)
		bpf_timer_cancel(&t->timer);
	if (!record)
		return;
	record->kind = ei->kind;
	record->exit_code = ei->exit_code;
	record->timestamp_ns = bpf_ktime_get_ns();
	bpf_probe_read_kernel_str(record->reason, sizeof(record->reason), ei->reason);
	bpf_probe_read_kernel_str(record->msg, sizeof(record->msg), ei->msg);
}

#include "dump.bpf.h"

SEC(".struct_ops.link")
struct sched_ext_ops temper_ops = {
	.select_cpu = (void *)temper_select_cpu,
	.enqueue = (void *)temper_enqueue,
	.dispatch = (void *)temper_dispatch,
	.runnable = (void *)temper_runnable,
	.running = (void *)temper_running,
	.tick = (void *)temper_tick,
	.stopping = (void *)temper_stopping,
	.cpu_release = (void *)temper_cpu_release,
	.cpu_online = (void *)temper_cpu_online,
	.cpu_offline = (void *)temper_cpu_offline,
	.init_task = (void *)temper_init_task,
#ifdef TEMPER_KERNEL_BW
	.cgroup_init = (void *)temper_cgroup_init,
	.cgroup_exit = (void *)temper_cgroup_exit,
	.cgroup_set_bandwidth = (void *)temper_cgroup_set_bandwidth,
#endif
	.init = (void *)temper_init,
	.exit = (void *)temper_exit,
	.dump = (void *)temper_dump,
	.dump_cpu = (void *)temper_dump_cpu,
	.dump_task = (void *)temper_dump_task,
	/* room for every runnable task of a busy node with Temper's lines (dump.bpf.h) */
	.exit_dump_len = 1 << 20,
	/*
	 * ENQ_LAST: a task whose slice ends with nothing else runnable on its CPU is enqueued
	 * (not silently given another slice), so a throttled one is parked even on an idle node;
	 * any other goes straight back to its local queue (enqueue).
	 */
	.flags = SCX_OPS_ENQ_LAST,
#ifdef TEMPER_BROKEN
	.timeout_ms = 1000,
	.name = "temper_broken",
#else
	/*
	 * 20 s: a real stall is still caught (the kernel's own default and maximum is 30 s),
	 * while a pod whose many threads share a small quota (bandwidth.bpf.h: guard) rotates
	 * well inside.
	 */
	.timeout_ms = 20000,
	.name = "temper",
#endif
};
