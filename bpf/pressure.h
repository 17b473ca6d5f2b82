/* Counter indices shared by the probes and the agent (agent/programs.py mirrors them).
 *
 * Every probe keeps its figures in a per-CPU array of u64 counters indexed by the
 * enums below; user space sums the CPUs and takes differences between intervals.
 * Nothing is sent per event.
 */
#ifndef BAMEL_PRESSURE_H
#define BAMEL_PRESSURE_H

/* Log2 histogram of run-queue wait, in microseconds: slot i counts waits in [2^i, 2^(i+1)). */
#define RUNQ_HIST_SLOTS 26

enum cpu_counter {
	CPU_WAIT_NS = 0,	/* total run-queue wait, ns */
	CPU_WAIT_COUNT = 1,	/* waits that ended (task switched in) */
	CPU_HIST_BASE = 2,	/* RUNQ_HIST_SLOTS histogram slots follow */
	CPU_COUNTERS = CPU_HIST_BASE + RUNQ_HIST_SLOTS,
};

enum mem_counter {
	MEM_DIRECT_NS = 0,	/* time in direct reclaim, ns */
	MEM_DIRECT_COUNT = 1,
	MEM_MEMCG_NS = 2,	/* time in memcg reclaim, ns */
	MEM_MEMCG_COUNT = 3,
	MEM_FAULTS = 4,		/* user page faults */
	MEM_COMPACT_STALLS = 5,	/* direct compaction attempts (0 when unavailable) */
	MEM_COUNTERS = 6,
};

enum net_counter {
	NET_RX_BYTES = 0,
	NET_RX_PACKETS = 1,
	NET_TX_BYTES = 2,
	NET_TX_PACKETS = 3,
	NET_DROPS = 4,		/* skb:kfree_skb, any reason; per reason in drop_counts */
	NET_RETRANSMITS = 5,	/* tcp:tcp_retransmit_skb */
	NET_COUNTERS = 6,
};

/* A start timestamp held in a slot chosen by pid; pid tells a collision from a hit. */
struct pid_start {
	u32 pid;
	u32 pad;
	u64 ts;
};

#endif
