/* Network pressure: bytes and packets through every device, drops by reason, and
 * TCP retransmits.
 *
 * Drop reasons are kept as the kernel's raw enum value; user space names them from
 * the running kernel's tracefs format file, since header enums drift between kernels.
 */
#include <net/dropreason.h>
#include "pressure.bpf.h"

#define DROP_REASON_KEYS 512

BPF_PERCPU_ARRAY(net_counters, u64, NET_COUNTERS);
BPF_PERCPU_HASH(drop_counts, u32, u64, DROP_REASON_KEYS);

static __always_inline void net_add(int index, u64 value)
{
	counter_add(net_counters.lookup(&index), value);
}

TRACEPOINT_PROBE(net, netif_receive_skb)
{
	net_add(NET_RX_BYTES, args->len);
	net_add(NET_RX_PACKETS, 1);
	return 0;
}

TRACEPOINT_PROBE(net, net_dev_xmit)
{
	net_add(NET_TX_BYTES, args->len);
	net_add(NET_TX_PACKETS, 1);
	return 0;
}

TRACEPOINT_PROBE(skb, kfree_skb)
{
	u32 reason = (u32)args->reason;
	u64 zero = 0;
	u64 *count = drop_counts.lookup_or_try_init(&reason, &zero);

	if (count)
		*count += 1;
	net_add(NET_DROPS, 1);
	return 0;
}

TRACEPOINT_PROBE(tcp, tcp_retransmit_skb)
{
	net_add(NET_RETRANSMITS, 1);
	return 0;
}
