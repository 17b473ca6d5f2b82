/* Memory pressure: time stalled in direct and memcg reclaim, user page faults, and
 * direct compaction attempts when the kernel has the tracepoint (HAVE_COMPACTION).
 *
 * Begin and end fire in the same task, so the start is held per pid.
 */
#include "pressure.bpf.h"

#define RECLAIM_SLOTS 4096

BPF_PERCPU_ARRAY(mem_counters, u64, MEM_COUNTERS);
BPF_ARRAY(direct_start, struct pid_start, RECLAIM_SLOTS);
BPF_ARRAY(memcg_start, struct pid_start, RECLAIM_SLOTS);

static __always_inline u32 current_pid(void)
{
	return (u32)bpf_get_current_pid_tgid();
}

static __always_inline void mem_add(int index, u64 value)
{
	counter_add(mem_counters.lookup(&index), value);
}

TRACEPOINT_PROBE(vmscan, mm_vmscan_direct_reclaim_begin)
{
	u32 pid = current_pid();
	u32 key = pid & (RECLAIM_SLOTS - 1);

	start_set(direct_start.lookup(&key), pid, bpf_ktime_get_ns());
	return 0;
}

TRACEPOINT_PROBE(vmscan, mm_vmscan_direct_reclaim_end)
{
	u32 pid = current_pid();
	u32 key = pid & (RECLAIM_SLOTS - 1);
	u64 stalled = start_take(direct_start.lookup(&key), pid, bpf_ktime_get_ns());

	if (!stalled)
		return 0;
	mem_add(MEM_DIRECT_NS, stalled);
	mem_add(MEM_DIRECT_COUNT, 1);
	return 0;
}

TRACEPOINT_PROBE(vmscan, mm_vmscan_memcg_reclaim_begin)
{
	u32 pid = current_pid();
	u32 key = pid & (RECLAIM_SLOTS - 1);

	start_set(memcg_start.lookup(&key), pid, bpf_ktime_get_ns());
	return 0;
}

TRACEPOINT_PROBE(vmscan, mm_vmscan_memcg_reclaim_end)
{
	u32 pid = current_pid();
	u32 key = pid & (RECLAIM_SLOTS - 1);
	u64 stalled = start_take(memcg_start.lookup(&key), pid, bpf_ktime_get_ns());

	if (!stalled)
		return 0;
	mem_add(MEM_MEMCG_NS, stalled);
	mem_add(MEM_MEMCG_COUNT, 1);
	return 0;
}

TRACEPOINT_PROBE(exceptions, page_fault_user)
{
	mem_add(MEM_FAULTS, 1);
	return 0;
}

#ifdef HAVE_COMPACTION
TRACEPOINT_PROBE(compaction, mm_compaction_try_to_compact_pages)
{
	mem_add(MEM_COMPACT_STALLS, 1);
	return 0;
}
#endif
