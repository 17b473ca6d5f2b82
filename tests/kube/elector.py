"""One replica for the leader-election test: competes, and logs while it leads.

``python -m tests.kube.elector KUBECONFIG NAMESPACE IDENTITY LOG`` appends
``<identity> <wall time>`` to LOG every 50 ms while it holds leadership, which is
the history the test checks for overlap.
"""

from __future__ import annotations

import asyncio
import sys
import time

from controller.kube.client import KubeClient
from controller.kube.leader import LeaderElector, LeaseTimings

TIMINGS = LeaseTimings(lease_seconds=3.0, renew_seconds=2.0, retry_seconds=0.5)


async def main(kubeconfig: str, namespace: str, identity: str, log: str) -> None:
    client = await KubeClient.connect(kubeconfig)
    elector = LeaderElector(client, name="bamel-controller", namespace=namespace,
                            identity=identity, timings=TIMINGS)
    await elector.start()
    with open(log, "a", buffering=1) as out:  # noqa: ASYNC230 - a tiny local log
        while True:
            if elector.leading.is_set():
                out.write(f"{identity} {time.time():.6f}\n")
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
