"""Power on 50 machines at once (bounded) versus one by one, against real ipmi_sim BMCs.

A rack comes up in a burst when pressure spikes; how long the burst takes is set by
how well BMC round trips and chassis delays overlap. Each of the 50 simulated BMCs
reports the new power state CHASSIS_DELAY_MS after the command, as a real chassis
takes time to change; the driver polls until it does, exactly as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from controller.config.schema import MachineSpec
from controller.power import Credentials, MachinePower, machine_power
from lab.peers import IpmiSim

MACHINES = 50
CONCURRENCY = 25
"""In-flight power-ons at once, like the controller's bound: PDUs dislike 50 inrushes."""
CHASSIS_DELAY_MS = 500
POLL_INTERVAL = 0.1
PASSWORD = "bench"


def run() -> list[str]:
    """Start the BMCs, power all on concurrently, reset them, power all on in sequence."""
    with contextlib.ExitStack() as stack:
        bmcs = [stack.enter_context(IpmiSim(password=PASSWORD, delay_ms=CHASSIS_DELAY_MS))
                for _ in range(MACHINES)]
        concurrent = asyncio.run(_power_on_all(bmcs, concurrency=CONCURRENCY))
        _check_and_reset(bmcs)
        sequential = asyncio.run(_power_on_all(bmcs, concurrency=1))
        _check_and_reset(bmcs)
    return [f"power: {MACHINES} machines: concurrent {concurrent:.2f} s, "
            f"sequential {sequential:.2f} s, {sequential / concurrent:.1f} x "
            f"(ipmi_sim, chassis delay {CHASSIS_DELAY_MS} ms, at most {CONCURRENCY} at once)"]


async def _power_on_all(bmcs: list[IpmiSim], *, concurrency: int) -> float:
    """Seconds to power every machine on with at most ``concurrency`` in flight."""
    credentials = Credentials(username="admin", password=PASSWORD)
    pairs = [machine_power(_machine(index, bmc), credentials) for index, bmc in enumerate(bmcs)]
    gate = asyncio.Semaphore(concurrency)

    async def one(pair: MachinePower) -> None:
        async with gate:
            await pair.power_on()

    started = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for pair in pairs:
                group.create_task(one(pair))
        return time.perf_counter() - started
    finally:
        for pair in pairs:
            await pair.close()


def _machine(index: int, bmc: IpmiSim) -> MachineSpec:
    ipmi = {"driver": "ipmi", "settings": {"host": bmc.host, "port": bmc.port,
                                            "pollInterval": POLL_INTERVAL, "timeout": 10}}
    return MachineSpec.model_validate({
        "name": f"bench-{index}", "pool": "bench", "capacity": {"cpu": 1, "memory": "1Gi"},
        "power": {"on": ipmi, "off": ipmi},
    })


def _check_and_reset(bmcs: list[IpmiSim]) -> None:
    """Every chassis must be on (the figure means nothing otherwise); then switch it off."""
    off = [index for index, bmc in enumerate(bmcs) if not bmc.power]
    if off:
        raise RuntimeError(f"machines not on after the run: {off}")
    for bmc in bmcs:
        (bmc.state_dir / "power").write_text("0\n")
