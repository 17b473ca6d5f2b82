"""The loader hand-over without BPF: the messages, the descriptors, and a loader that fails.

A real loader process runs in the failure tests, with a stand-in ``bcc`` package first
on its path (see conftest.py), so BCC is missing, crashes or hangs for it.
"""

from __future__ import annotations

import ast
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent import handoff
from agent.bpfsys import BpfError, CounterMap, possible_cpus
from agent.handoff import Attached, LoaderError, receive_reply, run_loader, send_reply
from agent.programs import specs
from agent.sampler import Sampler

AGENT = Path(handoff.__file__).resolve().parent


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with left, right:
        yield left, right


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def same_file(a: int, b: int) -> bool:
    one, two = os.fstat(a), os.fstat(b)
    return (one.st_dev, one.st_ino) == (two.st_dev, two.st_ino)


def test_request_round_trip() -> None:
    wanted = list(specs().values())
    assert handoff.decode_request(handoff.encode_request(wanted, verbose=True)) == (wanted, True)


def test_reply_carries_each_descriptor_under_its_name(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    read_end, write_end = os.pipe()
    other_read, other_write = os.pipe()
    try:
        sent = Attached(maps={"cpu_counters": read_end}, links={"sched:sched_switch": write_end})
        send_reply(pair[0], {"cpu": sent, "network": Attached(maps={"m": other_read},
                                                               links={"n": other_write})},
                   {"memory": "kernel said no"})
        attached, refused = receive_reply(pair[1])
        assert refused == {"memory": "kernel said no"}
        cpu = attached["cpu"]
        assert same_file(cpu.maps["cpu_counters"], read_end)
        assert same_file(cpu.links["sched:sched_switch"], write_end)
        assert same_file(attached["network"].links["n"], other_write)
        assert not os.get_inheritable(cpu.maps["cpu_counters"])
        for probe in attached.values():
            probe.close()
            probe.close()
            assert probe.maps == {} and probe.links == {}
    finally:
        for fd in (read_end, write_end, other_read, other_write):
            os.close(fd)


def test_a_reply_that_does_not_add_up_is_refused_and_its_descriptors_closed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    body = b'{"protocol": 1, "refused": {}, "attached": {"cpu": {"maps": {"m": 5}, "links": {}}}}'
    read_end, write_end = os.pipe()
    try:
        before = open_fds()
        socket.send_fds(pair[0], [body], [read_end, write_end])
        with pytest.raises(LoaderError, match="named descriptors"):
            receive_reply(pair[1])
        assert open_fds() == before
    finally:
        os.close(read_end)
        os.close(write_end)


def test_an_unknown_protocol_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    pair[0].send(b'{"protocol": 99}')
    with pytest.raises(LoaderError, match="unknown protocol"):
        receive_reply(pair[1])


def test_a_closed_socket_is_no_answer(pair: tuple[socket.socket, socket.socket]) -> None:
    pair[0].close()
    with pytest.raises(LoaderError, match="without answering"):
        receive_reply(pair[1])


def test_missing_bcc_refuses_every_probe_and_the_sampler_falls_back(
    shadow_bcc: Callable[..., Path],
) -> None:
    shadow_bcc()
    sampler = Sampler()
    sampler.start()
    assert sampler.sources() == {"cpu": "psi", "memory": "psi", "network": "proc"}
    for why in sampler.why_fallback.values():
        assert "BCC is not available: no module named bcc (hidden by the test)" in why
    assert set(sampler.read()) == {"cpu", "memory", "network"}
    sampler.close()


def test_a_loader_that_dies_is_reported_with_its_status_and_last_words(
    shadow_bcc: Callable[..., Path],
) -> None:
    shadow_bcc('import os, sys\nprint("llvm fell over", file=sys.stderr, flush=True)\n'
               "os._exit(3)\n")
    result = run_loader(list(specs().values()), timeout_s=60)
    assert result.attached == {}
    assert result.loader_status == 3
    assert set(result.refused) == {"cpu", "memory", "network"}
    for why in result.refused.values():
        assert "exit status 3" in why
        assert "without answering" in why
        assert why.endswith("llvm fell over")


def test_a_loader_that_hangs_is_killed_at_the_timeout(shadow_bcc: Callable[..., Path]) -> None:
    shadow_bcc("import time\ntime.sleep(3600)\n")
    result = run_loader([specs()["cpu"]], timeout_s=1)
    assert result.loader_status is not None
    assert result.loader_status < 0  # killed by a signal
    assert not Path(f"/proc/{result.loader_pid}").exists()
    assert "gave no answer within 1 s and was killed" in result.refused["cpu"]


def test_possible_cpus_counts_every_range(tmp_path: Path) -> None:
    mask = tmp_path / "possible"
    mask.write_text("0-3,6,8-9\n")
    assert possible_cpus(mask) == 7
    assert possible_cpus() >= (os.cpu_count() or 1)


def test_a_descriptor_that_is_not_a_map_is_refused() -> None:
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(BpfError):
            CounterMap(read_end, cpus=1)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_only_the_loader_imports_bcc() -> None:
    importers = []
    for path in AGENT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "bcc" for name in names):
                importers.append(path.name)
    assert importers == ["loader.py"]
