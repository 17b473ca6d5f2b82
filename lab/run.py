"""One lab run: start everything in order, play the workload, stop everything.

A :class:`Lab` owns one :class:`~contextlib.AsyncExitStack`: each component is
pushed as it starts (temporary directory, control plane, CRDs, power peers, the
machines, the controller, the host's agent, the workload), so a failure at any
step, the end of the run, Ctrl-C or SIGTERM all unwind the same way, newest first,
and every child process is stopped by its PID. Nothing is mounted and nothing
listens beyond 127.0.0.1; when the stack is empty, nothing of the run is left.

Tests use a Lab directly (a small fleet, short timings, no workload) and drive
pods, peers and the controller process themselves; ``bamel lab`` uses :func:`run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from controller.config.loading import dump_yaml, load_config_text
from controller.power import DRIVERS
from lab.cluster import Cluster
from lab.controller import ControllerOptions, ControllerProcess
from lab.controlplane import ControlPlane
from lab.fleet import DEMO_FLEET, Fleet, config_document
from lab.host import HOST_NODE, HostAgent
from lab.machine import LabMachine, StreamTarget
from lab.pressure import steady
from lab.rack import Rack
from lab.status import LabStatus, Observer
from lab.summary import Ledger, Summary
from lab.view import Dashboard, Progress, View
from lab.workload import Workload, trace_intensity

log = logging.getLogger(__name__)


class LabError(RuntimeError):
    """The run could not go on (a component died); the message says which and why."""


@dataclass(frozen=True)
class LabOptions:
    duration: float | None = 180.0
    """Seconds to run; None runs until Ctrl-C or SIGTERM."""
    fleet: Fleet = DEMO_FLEET
    workload: bool = True
    trace: bool = True
    """Scale pods' usage by a compressed slice of the Alibaba trace."""
    host_agent: bool = True
    host_bpf: bool = True
    leader_elect: bool = True
    namespace: str = "bamel-system"
    workload_namespace: str = "lab"
    workdir: Path | None = None
    """Kept when given; a temporary directory removed at the end otherwise."""
    tick: float = 1.0
    node_monitor_grace_period: float = 8.0
    controller_log_level: str = "info"


@dataclass
class Lab:
    """Every component of one run; ``async with Lab(options) as lab:``."""

    options: LabOptions = field(default_factory=LabOptions)
    workdir: Path = field(default_factory=Path)
    plane: ControlPlane | None = None
    cluster: Cluster | None = None
    rack: Rack | None = None
    machines: dict[str, LabMachine] = field(default_factory=dict)
    controller: ControllerProcess | None = None
    host: HostAgent | None = None
    workload: Workload | None = None
    observer: Observer | None = None
    ledger: Ledger | None = None
    config_path: Path = field(default_factory=Path)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def __aenter__(self) -> Lab:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        o = self.options
        self._workdir()
        (self.workdir / "kube").mkdir(exist_ok=True)
        self.plane = await self._stack.enter_async_context(ControlPlane(
            workdir=self.workdir / "kube", node_monitor_grace_period=o.node_monitor_grace_period))
        self.cluster = await self._stack.enter_async_context(Cluster(self.plane.kubeconfig))
        await self.cluster.install_crds()
        await self.cluster.ensure_namespace(o.namespace)
        self.rack = await self._stack.enter_async_context(
            Rack(o.fleet, workdir=self.workdir, namespace=o.namespace))
        for name, data in self.rack.secrets.items():
            await self.cluster.put_secret(o.namespace, name, data)
        tokens = self._tokens()
        self.config_path = self.workdir / "config.yaml"
        self.write_config()
        self.controller = ControllerProcess(
            ControllerOptions(kubeconfig=self.plane.kubeconfig, config=self.config_path,
                              tokens=self.workdir / "tokens.yaml", namespace=o.namespace,
                              leader_elect=o.leader_elect, log_level=o.controller_log_level),
            log_path=self.workdir / "controller.log")
        await self.controller.start()
        self._stack.push_async_callback(self.controller.stop)
        # After the controller, so that they stop streaming before it stops.
        intensity = trace_intensity(o.duration or 600.0) if o.trace else steady
        for plan in o.fleet.machines:
            machine = LabMachine(plan, self.rack.peers[plan.name],
                                 kubeconfig=self.plane.kubeconfig,
                                 stream=StreamTarget(self.controller.stream_url, tokens[plan.name]),
                                 intensity=intensity)
            self.machines[plan.name] = machine.start()
            self._stack.push_async_callback(machine.close)
        if o.host_agent:
            self.host = await self._stack.enter_async_context(HostAgent(
                kubeconfig=self.plane.kubeconfig, stream_url=self.controller.stream_url,
                token_file=tokens[HOST_NODE], log_path=self.workdir / "agent.log",
                use_bpf=o.host_bpf))
        await self.cluster.ensure_namespace(o.workload_namespace)
        if o.workload:
            self.workload = await Workload(self.cluster, o.workload_namespace,
                                           o.duration or 600.0).start()
            self._stack.push_async_callback(self.workload.close)
        self.observer = Observer(cluster=self.cluster, controller=self.controller,
                                 machines=list(self.machines.values()),
                                 namespace=o.workload_namespace, host=self.host)
        self._stack.push_async_callback(self.observer.close)
        self.ledger = Ledger(list(self.machines.values()))

    def _workdir(self) -> None:
        if self.options.workdir is not None:
            self.workdir = self.options.workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="bamel-lab-"))
            self._stack.callback(shutil.rmtree, self.workdir, ignore_errors=True)

    def _tokens(self) -> dict[str, Path]:
        """One bearer token per node: the controller's map, and a file per node."""
        names = [plan.name for plan in self.options.fleet.machines] + [HOST_NODE]
        tokens = {name: secrets.token_urlsafe(24) for name in names}
        (self.workdir / "tokens.yaml").write_text(dump_yaml(tokens))
        directory = self.workdir / "tokens"
        directory.mkdir(exist_ok=True)
        files = {}
        for name, token in tokens.items():
            files[name] = directory / name
            files[name].write_text(token + "\n")
        return files

    def write_config(self, fleet: Fleet | None = None) -> None:
        """Render, check and write the configuration (the controller hot-reloads it)."""
        assert self.rack is not None
        text = dump_yaml(config_document(fleet or self.options.fleet, self.rack.wiring()))
        # Fail here, with the field path, rather than in the controller.
        load_config_text(text, drivers=DRIVERS)
        temporary = self.config_path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(self.config_path)

    # --- for tests and the run loop ---------------------------------------------------

    async def status(self) -> LabStatus:
        assert self.observer is not None
        return await self.observer.refresh()

    async def wait_for(self, check: Callable[[LabStatus], bool], *, within: float,
                       what: str) -> LabStatus:
        """Refresh until check(status) holds; LabError naming ``what`` otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            status = await self.status()
            if check(status):
                return status
            if loop.time() > deadline:
                rows = [(m.name, m.power, m.state, m.last_error) for m in status.machines]
                raise LabError(f"{what}: not within {within:g}s; machines: {rows}\n"
                               f"controller log:\n{self.controller_log()}")
            await asyncio.sleep(0.3)

    def controller_log(self, limit: int = 4000) -> str:
        return self.controller.log_tail(limit) if self.controller else ""


async def play(lab: Lab, view: View) -> Summary:
    """Tick until the duration is over: observe, account, show. Returns the summary."""
    assert lab.observer is not None and lab.ledger is not None and lab.controller is not None
    duration, tick = lab.options.duration, lab.options.tick
    started = last = time.monotonic()
    errors: list[str] = []
    try:
        while duration is None or time.monotonic() - started < duration:
            status = await lab.observer.refresh()
            now = time.monotonic()
            lab.ledger.tick(now - last, pending=status.pending)
            last = now
            view.update(status)
            if not lab.controller.running():
                errors.append(f"the controller exited:\n{lab.controller_log(1500)}")
                break
            await asyncio.sleep(tick)
    finally:
        view.close()
    return lab.ledger.summary(decisions=len(lab.observer.status.decisions), errors=errors)


async def run(options: LabOptions, *, headless: bool) -> Summary:
    """The whole run; SIGINT and SIGTERM end it early, and everything is still stopped."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    stopping: list[int] = []

    def stop(signum: int) -> None:
        if not stopping:  # a second Ctrl-C must not interrupt the cleanup
            stopping.append(signum)
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    summary: Summary | None = None
    try:
        async with Lab(options) as lab:
            view: View = Progress() if headless else Dashboard(
                duration=options.duration or float("inf"))
            try:
                summary = await play(lab, view)
            except asyncio.CancelledError:
                if not stopping:
                    raise
                assert lab.ledger is not None and lab.observer is not None
                summary = lab.ledger.summary(decisions=len(lab.observer.status.decisions),
                                             errors=["stopped by signal"])
                task.uncancel()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    assert summary is not None
    return summary
