/* Kernel-side helpers shared by the probes (not seen by user space).
 *
 * bcc rewrites map calls (table.lookup) only outside macros, so each probe looks its
 * map slot up itself and hands the pointer to these helpers.
 */
#ifndef BAMEL_PRESSURE_BPF_H
#define BAMEL_PRESSURE_BPF_H

#include "pressure.h"

/* Add to a per-CPU counter: no atomics needed, each CPU owns its copy. */
static __always_inline void counter_add(u64 *slot, u64 value)
{
	if (slot)
		*slot += value;
}

/* Remember when pid started waiting. Slots are an array indexed by pid, which the
 * verifier inlines: far cheaper than a hash map on the scheduler's hot path. */
static __always_inline void start_set(struct pid_start *slot, u32 pid, u64 now)
{
	if (slot) {
		slot->pid = pid;
		slot->ts = now;
	}
}

/* Elapsed ns since start_set for pid, clearing the slot; 0 when none is held or
 * another pid took the slot since. */
static __always_inline u64 start_take(struct pid_start *slot, u32 pid, u64 now)
{
	u64 then;

	if (!slot || slot->pid != pid)
		return 0;
	then = slot->ts;
	if (!then || now <= then)
		return 0;
	slot->ts = 0;
	return now - then;
}

#endif
