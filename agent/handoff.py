"""Running the probe loader process and taking over the probes it attached.

BCC compiles the BPF C with an in-process LLVM whose memory never goes back to the
system (the agent held 173 MiB with it, against a 150 MiB budget). So the agent never
imports BCC: a short-lived loader (``python -m agent.loader``, a fresh interpreter)
compiles and attaches the probes, sends the descriptors that keep them alive — each
probe's maps and its tracepoint attachments (perf events) — over a Unix socket pair
with SCM_RIGHTS, and exits. A perf event holds its program and the program its maps,
so the probes stay attached exactly as long as the agent holds the descriptors;
closing them detaches and frees everything.

One message each way on a SOCK_SEQPACKET pair, JSON. The request carries the specs;
the reply names each descriptor by its index among those sent with it::

    {"protocol": 1,
     "attached": {"cpu": {"maps": {"cpu_counters": 0}, "links": {"sched:sched_switch": 1}}},
     "refused": {"memory": "why the kernel said no"}}
"""

from __future__ import annotations

import array
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from agent.programs import ProbeSpec

log = logging.getLogger(__name__)

PROTOCOL = 1
LOADER_MODULE = "agent.loader"
MESSAGE_BYTES = 1 << 16
MAX_FDS = 253
"""SCM_MAX_FD: the most descriptors one message can carry (the probes need about 20)."""
EXIT_GRACE_S = 10.0
"""How long the loader may take to exit once it has answered."""


class LoaderError(RuntimeError):
    """The loader gave no usable answer."""


@dataclass
class Attached:
    """One probe as handed over: descriptors of its maps and attachments, owned by us."""

    maps: dict[str, int] = field(default_factory=dict)
    links: dict[str, int] = field(default_factory=dict)
    """Tracepoint ("category:name") → the perf event that attaches the program to it."""

    def close(self) -> None:
        """Close every descriptor (links first: that detaches); safe to call twice."""
        for table in (self.links, self.maps):
            for fd in table.values():
                os.close(fd)
            table.clear()


@dataclass
class Handoff:
    """What one loader run produced."""

    attached: dict[str, Attached]
    refused: dict[str, str]
    loader_pid: int
    loader_status: int
    """Its exit status, negative for the signal that ended it (see subprocess.Popen)."""
    children_peak_rss_mib: float
    """Peak RSS of the largest child reaped so far (in the agent, the loader)."""


def encode_request(specs: Sequence[ProbeSpec], *, verbose: bool) -> bytes:
    """The request sent to the loader."""
    body = {"protocol": PROTOCOL, "verbose": verbose, "specs": [asdict(s) for s in specs]}
    return json.dumps(body).encode()


def decode_request(data: bytes) -> tuple[list[ProbeSpec], bool]:
    """The loader's side of :func:`encode_request`."""
    body = json.loads(data)
    if body.get("protocol") != PROTOCOL:
        raise LoaderError(f"request protocol {body.get('protocol')!r}, expected {PROTOCOL}")
    specs = [ProbeSpec(resource=str(s["resource"]), source=str(s["source"]),
                       table=str(s["table"]), counters=int(s["counters"]),
                       defines=tuple(s["defines"]), extra_maps=tuple(s["extra_maps"]))
             for s in body["specs"]]
    return specs, bool(body["verbose"])


def send_reply(sock: socket.socket, attached: Mapping[str, Attached],
               refused: Mapping[str, str]) -> None:
    """Send the loader's answer with every descriptor it names (the loader's side)."""
    fds: list[int] = []

    def index(table: Mapping[str, int]) -> dict[str, int]:
        out = {}
        for name, fd in table.items():
            out[name] = len(fds)
            fds.append(fd)
        return out

    body = {"protocol": PROTOCOL, "refused": dict(refused),
            "attached": {r: {"maps": index(a.maps), "links": index(a.links)}
                         for r, a in attached.items()}}
    if len(fds) > MAX_FDS:
        raise LoaderError(f"{len(fds)} descriptors do not fit in one message ({MAX_FDS})")
    socket.send_fds(sock, [json.dumps(body).encode()], fds)


def receive_reply(sock: socket.socket) -> tuple[dict[str, Attached], dict[str, str]]:
    """The agent's side of :func:`send_reply`; the descriptors come close-on-exec."""
    data, fds, flags = _recv_with_fds(sock)
    try:
        if not data:
            raise LoaderError("closed its socket without answering")
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise LoaderError("its answer did not fit in one message")
        try:
            return _decode_reply(json.loads(data), fds)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise LoaderError(f"answered something unreadable: {error!r}") from error
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _recv_with_fds(sock: socket.socket) -> tuple[bytes, list[int], int]:
    """socket.recv_fds, but close-on-exec (3.11's ignores its flags argument)."""
    fds = array.array("i")
    data, ancillary, flags, _ = sock.recvmsg(
        MESSAGE_BYTES, socket.CMSG_SPACE(MAX_FDS * fds.itemsize), socket.MSG_CMSG_CLOEXEC)
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds), flags


def _decode_reply(body: Any, fds: list[int]) -> tuple[dict[str, Attached], dict[str, str]]:
    if not isinstance(body, dict) or body.get("protocol") != PROTOCOL:
        raise LoaderError(f"answered in an unknown protocol: {str(body)[:200]}")
    wanted = [i for probe in body["attached"].values()
              for table in (probe["maps"], probe["links"]) for i in table.values()]
    if sorted(wanted) != list(range(len(fds))):
        raise LoaderError(f"named descriptors {sorted(wanted)} but sent {len(fds)}")
    attached = {
        resource: Attached(maps={n: fds[i] for n, i in probe["maps"].items()},
                           links={n: fds[i] for n, i in probe["links"].items()})
        for resource, probe in body["attached"].items()
    }
    return attached, {str(r): str(why) for r, why in body["refused"].items()}


def loader_argv(fd: int) -> list[str]:
    """How the loader is started: a fresh interpreter running agent/loader.py."""
    return [sys.executable, "-m", LOADER_MODULE, "--socket", str(fd)]


def _loader_env() -> dict[str, str]:
    """The agent's environment, with this very package first on the loader's path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def run_loader(specs: Sequence[ProbeSpec], *, timeout_s: float,
               verbose: bool = False) -> Handoff:
    """Load ``specs`` in a loader process and take over what it attached.

    Never raises for the loader's failures: every probe it could not hand over is in
    ``refused`` with the reason (its exit status and last line of output included).
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, tempfile.TemporaryFile() as output:
        with theirs:
            proc = subprocess.Popen(loader_argv(theirs.fileno()), pass_fds=(theirs.fileno(),),
                                    stdin=subprocess.DEVNULL, stdout=output,
                                    stderr=subprocess.STDOUT, env=_loader_env())
        failure: Exception | None = None
        attached: dict[str, Attached] = {}
        refused: dict[str, str] = {}
        try:
            ours.settimeout(timeout_s)
            ours.send(encode_request(specs, verbose=verbose))
            attached, refused = receive_reply(ours)
        except TimeoutError:
            failure = LoaderError(f"gave no answer within {timeout_s:g} s and was killed")
        except (OSError, LoaderError) as error:
            failure = error
        status = _reap(proc, kill=failure is not None)
        lines = _lines(output)
    for line in lines:
        log.debug("probe loader %d: %s", proc.pid, line)
    if failure is not None:
        last = f": {lines[-1]}" if lines else ""
        why = f"probe loader (exit status {status}) {failure}{last}"
        refused = {spec.resource: why for spec in specs}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return Handoff(attached=attached, refused=refused, loader_pid=proc.pid,
                   loader_status=status, children_peak_rss_mib=peak)


def _reap(proc: subprocess.Popen[bytes], *, kill: bool) -> int:
    if kill:
        proc.kill()
    try:
        return proc.wait(timeout=EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _lines(output: IO[bytes]) -> list[str]:
    output.seek(0)
    text = output.read(MESSAGE_BYTES * 4).decode(errors="replace")
    return [line for line in text.splitlines() if line.strip()]
