/* SPDX-License-Identifier: GPL-2.0 */
/*
 * telemetry.bpf.h - runqueue-wait telemetry: how long each runnable task waited for a CPU,
 * per tier and per pod, as log2 histograms the agent reads with bpf(2) (temper.h:
 * temper_wait, temper_pod_wait, struct temper_wait_hist).
 *
 * WHAT IS A WAIT
 * From the moment a task is runnable - woken (ops.runnable), or still runnable when its slice
 * ended (ops.stopping), or released from parking (bw_unpark) - to the moment it runs
 * (ops.running). Time parked for CPU quota is not a wait: parking clears the mark, and the
 * release sets it again (throttling is counted by bandwidth.bpf.h instead). A task first
 * seen already runnable (at attach) has no mark and records nothing until its next turn.
 *
 * HOT PATH
 * ops.running does one per-CPU array lookup and, for a task in a pod, one per-CPU LRU hash
 * lookup (an insert only for a pod's first wait on that CPU): plain increments of this CPU's
 * copy, no atomics, no locks. The bucket is fls64(wait / 1024) capped at the last bucket, by
 * a branch-free-enough binary search (BPF has no count-leading-zeros instruction).
 *
 * COST
 * temper_notelemetry.bpf.o (-DTEMPER_NO_TELEMETRY) compiles the recording out and keeps the
 * maps; benchmarks/lab_bpf_cost.py --telemetry runs both in one boot, alternating.
 *
 * INVARIANTS
 * - In every histogram, on every CPU, count == the sum of the buckets (one writer per CPU:
 *   ops.running runs with the CPU's rq lock held and never nests on that CPU).
 * - A pod's histogram is keyed by the pod cgroup the task resolved to (task_ctx.pod_id, set
 *   with its tier), so containers add to their pod; tasks outside pods count per tier only.
 */
#ifndef __TEMPER_TELEMETRY_BPF_H
#define __TEMPER_TELEMETRY_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TEMPER_NR_TIERS);
	__type(key, u32);
	__type(value, struct temper_wait_hist);
} temper_wait SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, TEMPER_MAX_WAIT_PODS);
	__type(key, u64);
	__type(value, struct temper_wait_hist);
} temper_pod_wait SEC(".maps");

/* The bit length of @v (0 for 0): fls64. */
static __always_inline u32 bit_length(u64 v)
{
	u32 n = 0;

	if (v >> 32) { n += 32; v >>= 32; }
	if (v >> 16) { n += 16; v >>= 16; }
	if (v >> 8) { n += 8; v >>= 8; }
	if (v >> 4) { n += 4; v >>= 4; }
	if (v >> 2) { n += 2; v >>= 2; }
	if (v >> 1) { n += 1; v >>= 1; }
	return n + (u32)v;
}

static __always_inline void wait_add(struct temper_wait_hist *h, u32 bucket, u64 wait)
{
	h->count++;
	h->sum_ns += wait;
	if (bucket < TEMPER_WAIT_BUCKETS)
		h->buckets[bucket]++;
}

#ifdef TEMPER_NO_TELEMETRY
/* The telemetry-cost baseline (temper_notelemetry.bpf.o): same maps, nothing recorded. */
static __always_inline void wait_begin(struct task_ctx *tctx, u64 now) {}
static __always_inline void wait_cancel(struct task_ctx *tctx) {}
static __always_inline void wait_end(struct task_ctx *tctx, u64 now) {}
/* From ops.init: a program must reference the maps, or the agent cannot find them by program. */
static __always_inline void telemetry_keep_maps(void)
{
	u32 tier = 0;
	u64 pod = 0;

	bpf_map_lookup_elem(&temper_wait, &tier);
	bpf_map_lookup_elem(&temper_pod_wait, &pod);
}
#else
static __always_inline void telemetry_keep_maps(void) {}
/* @tctx is runnable from @now (a wake-up, a slice end while runnable, a release from parking). */
static __always_inline void wait_begin(struct task_ctx *tctx, u64 now)
{
	tctx->runnable_at = now ? now : 1;
}

/* Parked for quota: not waiting for a CPU (the release starts a new wait). */
static __always_inline void wait_cancel(struct task_ctx *tctx)
{
	tctx->runnable_at = 0;
}

/* From ops.running: the wait that ends now, into the tier's and the pod's histograms. */
static __always_inline void wait_end(struct task_ctx *tctx, u64 now)
{
	struct temper_wait_hist *h;
	u64 wait, pod = tctx->pod_id;
	u32 tier = tctx->tier, bucket;

	if (!tctx->runnable_at)
		return;
	wait = now - tctx->runnable_at;
	tctx->runnable_at = 0;
	if ((s64)wait < 0)
		return;
	bucket = bit_length(wait >> 10);
	if (bucket >= TEMPER_WAIT_BUCKETS)
		bucket = TEMPER_WAIT_BUCKETS - 1;
	h = bpf_map_lookup_elem(&temper_wait, &tier);
	if (h)
		wait_add(h, bucket, wait);
	if (!pod)
		return;
	h = bpf_map_lookup_elem(&temper_pod_wait, &pod);
	if (!h) {
		struct temper_wait_hist zero = {};	/* 208 bytes: zeroed only for a pod's first wait here */

		bpf_map_update_elem(&temper_pod_wait, &pod, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&temper_pod_wait, &pod);
	}
	if (h)
		wait_add(h, bucket, wait);
}
#endif /* TEMPER_NO_TELEMETRY */

#endif /* __TEMPER_TELEMETRY_BPF_H */
