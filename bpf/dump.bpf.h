/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dump.bpf.h - the scheduler's own lines in the kernel's sched_ext debug dump.
 *
 * WHY
 * When the watchdog ejects the scheduler (or on SysRq-D, or `echo d > .../sysrq-trigger`)
 * the kernel prints every CPU and every runnable task with the DSQ it sits in - but not why
 * it sits there. These callbacks add Temper's view, so one dump answers "why did this task
 * not run": the scheduler's sequence counters (throttle / park / unpark), each CPU's notion
 * of what runs on it, and per task its tier, queue, limited cgroups (runtime left,
 * throttled) and how long ago it was queued or last ran. The dump reaches users through the
 * `sched_ext_dump` trace event and the kernel log; nothing here runs on the hot path.
 *
 * INVARIANTS
 * - Read-only: no callback here writes any scheduler state.
 * - Every line starts with "temper:" so tools can tell them from the kernel's own.
 * - scx_bpf_dump_bstr is resolved weakly: a kernel without it gets no lines, not a failed load.
 */
#ifndef __TEMPER_DUMP_BPF_H
#define __TEMPER_DUMP_BPF_H

#include "common.bpf.h"

void scx_bpf_dump_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym __weak;

/* One dump line: a format in .data (the kfunc wants a writable buffer) and its u64 args. */
#define dump_line(fmt, args...)                                                         \
	({                                                                                \
		static char ___fmt[] = fmt;                                               \
		unsigned long long ___args[] = { args };                                  \
		if (bpf_ksym_exists(scx_bpf_dump_bstr))                                   \
			scx_bpf_dump_bstr(___fmt, ___args, sizeof(___args));              \
	})

static __always_inline u64 age_ms(u64 now, u64 then)
{
	return then && (s64)(now - then) > 0 ? (now - then) / 1000000 : 0;
}

void BPF_STRUCT_OPS(temper_dump, struct scx_dump_ctx *dctx)
{
	u64 now = bpf_ktime_get_ns();
	u32 i;

	dump_line("temper: throttle_seq=%llu park_done=%llu unpark_seq=%llu unpark_done=%llu",
		    throttle_seq, park_done, unpark_seq, unpark_done);
	dump_line("temper: unpark_scan=-%llums refill_walk=-%llums limited_cgroups=%llu parked=%lld",
		    age_ms(now, unpark_scanned_at), age_ms(now, bw_walked_at), nr_bw_cgroups,
		    (long long)scx_bpf_dsq_nr_queued(DSQ_PARKED));
	for (i = 0; i < NR_DSQS; i++)
		dump_line("temper: queue %u: nr=%lld vtime_now=%llu served=-%llums", i,
			    (long long)scx_bpf_dsq_nr_queued(dsq_id(i)), clock_of(i)->vtime_now,
			    age_ms(now, clock_of(i)->last_served));
}

void BPF_STRUCT_OPS(temper_dump_cpu, struct scx_dump_ctx *dctx, s32 cpu, bool idle)
{
	struct cpu_ctx *c = cpu_ctx_of(cpu);

	if (!c)
		return;
	dump_line("temper: cpu %d tier=%u busy=%u fence_critical=%u offline=%u sibling=%d", cpu, c->tier,
		    c->busy, c->fence_critical, c->offline, c->sibling);
}

/* One limited cgroup of a task: its id, quota left and throttled flag. */
static __always_inline void dump_bw_level(u64 id)
{
	struct temper_bw_stats *st;

	if (!id)
		return;
	st = bpf_map_lookup_elem(&temper_bw_stats, &id);
	if (st)
		dump_line("temper:   limited cgroup %llu: runtime=%lldns throttled=%u", id,
			    st->runtime_ns, st->throttled);
	else
		dump_line("temper:   limited cgroup %llu: no state", id);
}

void BPF_STRUCT_OPS(temper_dump_task, struct scx_dump_ctx *dctx, struct task_struct *p)
{
	struct task_ctx *tctx = task_ctx_of(p);
	u64 now = bpf_ktime_get_ns();

	if (!tctx)
		return;
	dump_line("temper: tier=%u queue=%u cgroup=%llu gen=%llu queued=-%llums ran=-%llums", tctx->tier,
		    tctx->dsq_index, tctx->cgroup_id, tctx->generation, age_ms(now, tctx->queued_at),
		    age_ms(now, tctx->started_at));
	dump_bw_level(tctx->bw_ids[0]);
	dump_bw_level(tctx->bw_ids[1]);
}

#endif /* __TEMPER_DUMP_BPF_H */
