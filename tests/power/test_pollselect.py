"""The poll-based select keeps select.select's contract for high descriptor numbers."""

from __future__ import annotations

import os
import socket

from controller.power.pollselect import poll_select


def test_readiness_matches_select_for_a_socket_above_1024() -> None:
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        assert receiver.fileno() >= 1024
        assert poll_select([receiver], [], [], 0.0) == ([], [], [])
        sender.sendto(b"ping", receiver.getsockname())
        readable, writable, _ = poll_select([receiver], [sender], [], 1.0)
        assert readable == [receiver]
        assert writable == [sender]
    finally:
        receiver.close()
        sender.close()
        for fd in held:
            os.close(fd)
