/* CPU pressure: run-queue latency, from wakeup (or preemption) to running.
 *
 * Tracepoint arguments only. PID_SLOTS (a power of two) is set by the loader.
 */
#include "pressure.bpf.h"

#ifndef PID_SLOTS
#define PID_SLOTS 65536
#endif

/* prev_state of a task preempted in the kernel: TASK_REPORT_MAX, shown as "R+" by the
 * sched_switch format file (the "+" bit, 0x100 since Linux 4.14). A task preempted on
 * its way back to user space shows 0 (TASK_RUNNING); both are still runnable. */
#ifndef PREEMPTED_STATE
#define PREEMPTED_STATE 0x100
#endif

BPF_PERCPU_ARRAY(cpu_counters, u64, CPU_COUNTERS);
BPF_ARRAY(runq_start, struct pid_start, PID_SLOTS);

static __always_inline struct pid_start *runq_slot(u32 pid)
{
	u32 key = pid & (PID_SLOTS - 1);

	return runq_start.lookup(&key);
}

static __always_inline void cpu_add(int index, u64 value)
{
	counter_add(cpu_counters.lookup(&index), value);
}

TRACEPOINT_PROBE(sched, sched_wakeup)
{
	start_set(runq_slot(args->pid), args->pid, bpf_ktime_get_ns());
	return 0;
}

TRACEPOINT_PROBE(sched, sched_wakeup_new)
{
	start_set(runq_slot(args->pid), args->pid, bpf_ktime_get_ns());
	return 0;
}

TRACEPOINT_PROBE(sched, sched_switch)
{
	u64 now = bpf_ktime_get_ns();
	u64 waited, slot;

	/* A task switched out while still runnable waits again from now. */
	if ((args->prev_state == 0 || args->prev_state == PREEMPTED_STATE) && args->prev_pid != 0)
		start_set(runq_slot(args->prev_pid), args->prev_pid, now);
	if (args->next_pid == 0)
		return 0;
	waited = start_take(runq_slot(args->next_pid), args->next_pid, now);
	if (!waited)
		return 0;
	cpu_add(CPU_WAIT_NS, waited);
	cpu_add(CPU_WAIT_COUNT, 1);
	slot = bpf_log2l(waited / 1000);
	if (slot >= RUNQ_HIST_SLOTS)
		slot = RUNQ_HIST_SLOTS - 1;
	cpu_add(CPU_HIST_BASE + slot, 1);
	return 0;
}
