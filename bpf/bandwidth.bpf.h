/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bandwidth.bpf.h - cgroup CPU limits (cpu.max quota/period/burst) under sched_ext.
 *
 * WHY
 * While Temper is attached every task is on the ext class, so the fair class's bandwidth
 * control never sees them: without this unit a pod with limits.cpu 500m takes whole CPUs.
 * The kernel leaves enforcement to the BPF scheduler.
 *
 * WHERE THE LIMITS COME FROM
 * temper_cpu_max (agent-written from cpu.max / cpu.max.burst of pod and container
 * cgroups, every kernel) and bw_kernel (written by ops.cgroup_init / cgroup_set_bandwidth on
 * 6.17+ kernels, in the temper_kbw object: it sees a change the moment it is written). The
 * kernel's value wins when both exist; a cgroup in neither is unlimited.
 *
 * MODEL (per limited cgroup, state in temper_bw_stats, which the agent reads)
 *   runtime_ns  quota left in the current period. Every run of a task is charged to its
 *               nearest MAX_BW_LEVELS limited cgroups (container, then pod: a container is
 *               capped by its pod) at each tick and when it stops, from the kernel's own
 *               se.sum_exec_runtime (what cpu.stat's usage counts).
 *   throttle    runtime_ns <= 0: the cgroup's tasks are PARKED - inserted into DSQ_PARKED
 *               instead of their tier queue, never direct-dispatched, never kicking a CPU;
 *               a running one gets its slice zeroed at the next tick, and the next dispatch
 *               moves the ones still queued in tier queues to DSQ_PARKED (the core's sweep,
 *               when throttle_seq moved).
 *               A throttled Critical
 *               pod therefore leaves its fenced CPUs to borrowers while parked.
 *   refill      a BPF timer every BW_TICK_NS walks the limited cgroups (dispatch walks
 *               and re-arms the timer if it has not run for 4 ticks: the kernel frees a
 *               map's timers while no user holds the map, e.g. between bpftool's exit and
 *               the agent's pin of temper_timers): at each period
 *               boundary runtime_ns += quota (capped at quota + burst: unused quota carries
 *               over up to cpu.max.burst, as in the fair class). Overrun is carried as debt
 *               (so the long-run average is exact) but never beyond BW_MAX_DEBT quotas, so a
 *               cgroup stays parked at most BW_MAX_DEBT + 1 periods (and idling a few periods
 *               restores the full quota + burst, as under the fair class).
 *   unpark      when a cgroup has quota again the timer bumps unpark_seq and wakes an idle
 *               CPU; the next dispatch (any CPU, one at a time) moves every parked task whose
 *               cgroups all have quota back to its tier queue, and kicks CPUs for them as their
 *               wake-ups would (an idle CPU, else one running a tier they preempt: a
 *               refilled Normal pod does not wait for batch's slice ends, period after
 *               period, on a saturated node). DSQ_PARKED is ordered by the
 *               time each task last started running, and unparked tasks get consecutive
 *               vtimes just behind the queue's clock in that order: the tasks of a throttled
 *               pod take turns, least recently run first, so with 200 threads and a 500m
 *               limit each runs about every 200 x one tick / 0.5 CPU = 1.6 s, far inside
 *               the watchdog. Dispatch also rescans every BW_RESCAN_NS, which closes the race
 *               of a task parked just after its cgroup was refilled.
 *   guard       that rotation needs n x one tick / rate to fit in the watchdog; with more
 *               threads (or ticks stretched by a loaded host) some would wait for seconds.
 *               So a parked task that has not run for BW_PARK_MAX_NS is released for one
 *               turn even though its cgroup is throttled, and that turn is charged as debt.
 *               Exactness holds while n <= rate x BW_PARK_MAX_NS / turn (a turn is one
 *               tick plus the switch: 4-5 ms on hardware, so 800 threads at 500m; 10-20 ms
 *               in the emulated lab on a loaded host); beyond, the pod gets about
 *               n x turn / BW_PARK_MAX_NS - counted in the tier's starvation_guard stat -
 *               instead of an ejected scheduler. 8 s plus the tier queue's own bound
 *               (aging, 1 s) stays well inside the 20 s watchdog.
 *   counters    nr_periods (periods the cgroup used CPU in), nr_throttled (throttle events),
 *               throttled_ns (closed throttled intervals) - what cpu.stat would say.
 *
 * INVARIANTS
 * - A parked task is always released within one BW_RESCAN_NS of its cgroups having quota.
 * - Only the timer adds quota and clears throttled; charging only subtracts and sets it;
 *   both use atomics (no lock, no lost update of runtime_ns).
 * - Slices of limited tasks are capped at quota / 8, within [1 ms, 3 ms], so a period's quota
 *   is split among several runs, each at most one 250 Hz tick (slices end at ticks), and a
 *   pod with many threads rotates through all of them.
 * - No parked task waits more than about BW_PARK_MAX_NS + the tier queue's aging bound.
 */
#ifndef __TEMPER_BANDWIDTH_BPF_H
#define __TEMPER_BANDWIDTH_BPF_H

#include "common.bpf.h"

#define CLOCK_MONOTONIC 1

/* Provided by the core (temper.bpf.c): the tier queue @p belongs in (caller in RCU). */
static u32 queue_of_rcu(struct task_struct *p, u32 tier);

enum {
	BW_TICK_NS = 5000000ULL,	/* refill resolution: 5 ms */
	BW_RESCAN_NS = 20000000ULL,	/* parked tasks are re-checked at least this often */
	BW_MIN_SLICE_NS = 1000000ULL,
	BW_MAX_SLICE_NS = 3000000ULL,	/* under one 250 Hz tick: a limited task's turn is one tick */
	BW_PARK_MAX_NS = 8000000000ULL,	/* a parked task that has not run for this long runs once */
	BW_MAX_DEBT = 1,		/* quotas of overrun carried into later periods */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TEMPER_MAX_BW_CGROUPS);
	__type(key, u64);
	__type(value, struct temper_bw_config);
} bw_kernel SEC(".maps");

struct bw_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct bw_timer);
} temper_timers SEC(".maps");

u64 throttle_seq;	/* bumped when some cgroup ran out of quota */
u64 park_done;		/* throttle_seq as of the last sweep of the tier queues */
u64 unpark_seq;		/* bumped when some cgroup got quota back */
u64 unpark_done;	/* unpark_seq as of the last completed scan */
u64 unpark_scanned_at;
u64 nr_bw_cgroups;	/* limited cgroups known to the timer (0: skip all bandwidth work) */
u64 bw_walked_at;	/* when the refill walk last ran */
u32 bw_epoch;		/* bumped when the kernel forwards a limit: tasks re-resolve */

static __always_inline struct temper_bw_config *bw_config(u64 cgroup_id)
{
	struct temper_bw_config *cfg = bpf_map_lookup_elem(&bw_kernel, &cgroup_id);

	return cfg ? cfg : bpf_map_lookup_elem(&temper_cpu_max, &cgroup_id);
}

/* Whether @cgroup_id has a CPU limit; creates its state (full quota) the first time. */
static bool bw_track(u64 cgroup_id, u64 now)
{
	struct temper_bw_config *cfg = bw_config(cgroup_id);
	struct temper_bw_stats fresh = {};

	if (!cfg || !cfg->quota_ns || !cfg->period_ns)
		return false;
	if (bpf_map_lookup_elem(&temper_bw_stats, &cgroup_id))
		return true;
	fresh.runtime_ns = cfg->quota_ns;
	fresh.period_start_ns = now;
	if (bpf_map_update_elem(&temper_bw_stats, &cgroup_id, &fresh, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&nr_bw_cgroups, 1);
	return true;
}

static __always_inline bool bw_limited(struct task_ctx *tctx)
{
	return tctx->bw_ids[0] != 0;
}

/*
 * Charge the run time since the last charge to the task's limited cgroups. Run time is the
 * kernel's own account (se.sum_exec_runtime, brought up to date by update_curr_scx right
 * before ops.tick and ops.stopping): the same clock that fills the cgroup's cpu.stat
 * usage, so what is charged here is exactly what a user measures, context-switch cost
 * included - a ktime stamp taken in ops.running misses the switch, about 10 % of a
 * 6 ms slice under emulation.
 */
static void bw_charge(struct task_struct *p, struct task_ctx *tctx, u64 now)
{
	struct temper_bw_stats *st;
	u64 runtime = p->se.sum_exec_runtime;
	u64 used = runtime - tctx->charged_runtime;
	u32 i;

	tctx->charged_runtime = runtime;
	if (!bw_limited(tctx) || (s64)used <= 0)
		return;
	if (used > MAX_CHARGE_NS)
		used = MAX_CHARGE_NS;
	for (i = 0; i < MAX_BW_LEVELS; i++) {
		u64 id = tctx->bw_ids[i];

		if (!id)
			break;
		st = bpf_map_lookup_elem(&temper_bw_stats, &id);
		if (!st)
			continue;
		__sync_fetch_and_add(&st->runtime_ns, -(s64)used);
		if (st->runtime_ns <= 0 && __sync_val_compare_and_swap(&st->throttled, 0, 1) == 0) {
			st->throttled_since_ns = now;
			__sync_fetch_and_add(&st->nr_throttled, 1);
			__sync_fetch_and_add(&throttle_seq, 1);
		}
	}
}

/* Whether any of the task's limited cgroups is out of quota. */
static bool bw_throttled(struct task_ctx *tctx)
{
	struct temper_bw_stats *st;
	u32 i;

	if (!bw_limited(tctx))
		return false;
	for (i = 0; i < MAX_BW_LEVELS; i++) {
		u64 id = tctx->bw_ids[i];

		if (!id)
			break;
		st = bpf_map_lookup_elem(&temper_bw_stats, &id);
		if (st && st->throttled)
			return true;
	}
	return false;
}

/* @slice capped so a limited cgroup's quota is split over several runs. */
static u64 bw_slice(struct task_ctx *tctx, u64 slice)
{
	struct temper_bw_config *cfg;
	u64 cap;

	if (!bw_limited(tctx))
		return slice;
	cfg = bw_config(tctx->bw_ids[0]);
	if (!cfg)
		return slice;
	cap = cfg->quota_ns / 8;
	if (cap > BW_MAX_SLICE_NS)
		cap = BW_MAX_SLICE_NS;
	if (cap < BW_MIN_SLICE_NS)
		cap = BW_MIN_SLICE_NS;
	return cap < slice ? cap : slice;
}

/*
 * The refill walk's context. Only flags, never counters: the verifier checks a for_each
 * callback like a loop, and a counter would make every iteration a new state.
 */
struct bw_walk {
	u64 now;
	u64 released;		/* 1 if some cgroup got quota back (or lost its limit) */
};

static long bw_refill_one(struct bpf_map *map, u64 *key, struct temper_bw_stats *st, struct bw_walk *walk)
{
	struct temper_bw_config *cfg = bw_config(*key);
	u64 now = walk->now, elapsed, periods, cap;
	s64 runtime, target;

	if (!cfg || !cfg->quota_ns || !cfg->period_ns) {
		/* The limit is gone: forget the cgroup, release its parked tasks. */
		if (st->throttled)
			walk->released = 1;
		bpf_map_delete_elem(map, key);
		__sync_fetch_and_add(&nr_bw_cgroups, -1);
		return 0;
	}
	elapsed = now - st->period_start_ns;
	if ((s64)elapsed >= (s64)cfg->period_ns) {
		periods = elapsed / cfg->period_ns;
		st->period_start_ns += periods * cfg->period_ns;
		cap = cfg->quota_ns + (cfg->burst_ns < cfg->quota_ns ? cfg->burst_ns : cfg->quota_ns);
		/* Snapshot, then add the difference: charges racing with us are kept. */
		runtime = st->runtime_ns;
		if (runtime < (s64)cap)
			__sync_fetch_and_add(&st->nr_periods, 1);
		target = runtime < -(s64)(BW_MAX_DEBT * cfg->quota_ns) ? -(s64)(BW_MAX_DEBT * cfg->quota_ns) : runtime;
		target += periods > 64 ? 64 * cfg->quota_ns : periods * cfg->quota_ns;
		if (target > (s64)cap)
			target = cap;
		__sync_fetch_and_add(&st->runtime_ns, target - runtime);
	}
	if (st->throttled && st->runtime_ns > 0) {
		if (st->throttled_since_ns && (s64)(now - st->throttled_since_ns) > 0)
			__sync_fetch_and_add(&st->throttled_ns, now - st->throttled_since_ns);
		st->throttled_since_ns = 0;
		st->throttled = 0;
		walk->released = 1;
	}
	return 0;
}

/* One refill walk over every limited cgroup; wakes a CPU to unpark if anything was released. */
static void bw_walk(u64 now)
{
	struct bw_walk walk = { .now = now };
	const struct cpumask *online;
	s32 cpu;

	bpf_for_each_map_elem(&temper_bw_stats, bw_refill_one, &walk, 0);
	if (!walk.released)
		return;
	__sync_fetch_and_add(&unpark_seq, 1);
	online = scx_bpf_get_online_cpumask();
	cpu = scx_bpf_pick_idle_cpu(online, 0);
	scx_bpf_put_cpumask(online);
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

static int bw_tick(void *map, int *key, struct bw_timer *t)
{
	u64 now = bpf_ktime_get_ns();

	bw_walked_at = now;
	if (nr_bw_cgroups)
		bw_walk(now);
	bpf_timer_start(&t->timer, BW_TICK_NS, 0);
	return 0;
}

/*
 * (Re)arm the refill timer. The kernel frees a map's timers when its last user reference
 * goes (bpftool exits right after registering; the agent's pin comes a moment later) and
 * refuses bpf_timer_init while there is none, so this is retried until it sticks.
 */
static void bw_arm(void)
{
	struct bw_timer *t;
	u32 zero = 0;
	long ret;

	t = bpf_map_lookup_elem(&temper_timers, &zero);
	if (!t)
		return;
	ret = bpf_timer_init(&t->timer, &temper_timers, CLOCK_MONOTONIC);
	if (ret && ret != -16 /* -EBUSY: already initialised */)
		return;
	if (bpf_timer_set_callback(&t->timer, bw_tick) == 0)
		bpf_timer_start(&t->timer, BW_TICK_NS, 0);
}

/*
 * From ops.dispatch: if the timer has not walked for a while (not armed yet, or freed),
 * walk here and try to re-arm it - one CPU at a time.
 */
static void bw_watchdog(u64 now)
{
	u64 last = bw_walked_at;

	if ((s64)(now - last) < (s64)(4 * BW_TICK_NS))
		return;
	if (__sync_val_compare_and_swap(&bw_walked_at, last, now) != last)
		return;
	bw_arm();
	bw_walk(now);
}

/* What one bw_unpark scan put back, per tier queue: the caller kicks CPUs for them. */
struct bw_released {
	u32 tasks[NR_DSQS];
};

/*
 * From ops.dispatch: move parked tasks whose cgroups have quota again back to their tier
 * queue, at a vtime rebased on that queue's clock, counting them in @released. Returns
 * whether any moved. The iteration is one RCU read section: nothing inside may take or drop
 * the RCU lock (so the kicks for the released tasks are the caller's, after it).
 */
static bool bw_unpark(u64 now, struct bw_released *released)
{
	bool moved = false;
	struct bpf_iter_scx_dsq it;
	struct task_struct *p;
	struct task_ctx *tctx;
	u64 seq = unpark_seq, last = unpark_scanned_at, vtime;
	u32 index;

	if (seq == unpark_done && (s64)(now - last) < (s64)BW_RESCAN_NS)
		return false;
	if (scx_bpf_dsq_nr_queued(DSQ_PARKED) <= 0) {
		unpark_done = seq;
		unpark_scanned_at = now;
		return false;
	}
	/* One CPU scans at a time; the others go on with their own dispatch. */
	if (__sync_val_compare_and_swap(&unpark_scanned_at, last, now) != last)
		return false;
	unpark_done = seq;
	bpf_iter_scx_dsq_new(&it, DSQ_PARKED, 0);
	while ((p = bpf_iter_scx_dsq_next(&it))) {
		tctx = task_ctx_of(p);
		if (tctx && bw_throttled(tctx)) {
			if ((s64)(now - tctx->started_at) < (s64)BW_PARK_MAX_NS)
				continue;
			/* Liveness before exactness: one turn, charged as debt (header: GUARD). */
			stat_inc(tctx->tier, TEMPER_STAT_STARVATION_GUARD);
		}
		index = (tctx ? queue_of_rcu(p, tctx->tier) : Q_SHARED) % NR_DSQS;
		/*
		 * Least recently run first, one slice behind the queue's clock (like any waking
		 * task), in parked order: within a throttled pod the tasks take turns.
		 */
		vtime = clock_of(index)->vtime_now - ((u64)BW_MIN_SLICE_NS << VTIME_SHIFT) / DEFAULT_WEIGHT +
			(bpf_ktime_get_ns() - now);
		if (tctx) {
			tctx->vtime = vtime;
			tctx->dsq_index = index;
			tctx->queued_at = now;
			wait_begin(tctx, now);
		}
		if (dsq_move_vtime(&it, p, dsq_id(index), vtime)) {
			released->tasks[index]++;
			moved = true;
		}
	}
	bpf_iter_scx_dsq_destroy(&it);
	return moved;
}

#ifdef TEMPER_KERNEL_BW
/*
 * 6.17+: the kernel forwards cpu.max writes (ops.cgroup_set_bandwidth) and the values of
 * existing cgroups at load (scx_cgroup_init_args.bw_*). quota "max" arrives as ~0.
 */
static void bw_kernel_set(struct cgroup *cgrp, u64 period_us, u64 quota_us, u64 burst_us)
{
	struct temper_bw_config cfg = {};
	u64 id = cgrp->kn->id;

	if (quota_us >= (1ULL << 44) || period_us < 1000 || period_us > 1000000) {
		bpf_map_delete_elem(&bw_kernel, &id);
	} else {
		cfg.period_ns = period_us * 1000;
		cfg.quota_ns = quota_us * 1000;
		cfg.burst_ns = burst_us * 1000;
		bpf_map_update_elem(&bw_kernel, &id, &cfg, BPF_ANY);
	}
	__sync_fetch_and_add(&bw_epoch, 1);
}
#endif

#endif /* __TEMPER_BANDWIDTH_BPF_H */
