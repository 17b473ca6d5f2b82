"""The probe loader: compile and attach the probes with BCC, hand them over, exit.

Started by agent/handoff.py as ``python -m agent.loader --socket FD``. This is the only
module that imports BCC and the agent never imports it, so LLVM's memory lives and dies
with this short process. It reads one request (the specs) from the socket, compiles
and attaches each probe on its own (a probe the kernel refuses costs only its
resource), and sends back the descriptors of the maps the agent reads and of the
tracepoint attachments.

It leaves with ``os._exit``: BCC's atexit clean-up disables every perf event it
attached (an ioctl on the open file, which the agent's copies share), so a normal exit
would silently stop the probes the agent now holds.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from agent.handoff import MESSAGE_BYTES, Attached, decode_request, send_reply
from agent.programs import ProbeSpec, bpf_dir, cflags


class Refused(Exception):
    """The probe cannot run here; the message says why, for the agent's log."""


def load(specs: Sequence[ProbeSpec], *, verbose: bool
         ) -> tuple[list[Any], dict[str, Attached], dict[str, str]]:
    """Compile and attach every spec: the BCC objects to keep alive, what to hand over,
    and why the others were refused."""
    try:
        import bcc  # noqa: PLC0415 - the one place BCC is imported, and only in this process
    except ImportError as error:
        return [], {}, {spec.resource: f"BCC is not available: {error}" for spec in specs}
    held: list[Any] = []
    attached: dict[str, Attached] = {}
    refused: dict[str, str] = {}
    for spec in specs:
        try:
            bpf, attached[spec.resource] = attach(bcc, spec, verbose=verbose)
        except Refused as error:
            refused[spec.resource] = str(error)
        else:
            held.append(bpf)
    return held, attached, refused


def attach(bcc: Any, spec: ProbeSpec, *, verbose: bool) -> tuple[Any, Attached]:
    """Compile one probe; BCC attaches every ``TRACEPOINT_PROBE`` as it loads."""
    with compiler_output(verbose=verbose) as output:
        try:
            bpf = bcc.BPF(src_file=str(bpf_dir() / spec.source).encode(), cflags=cflags(spec))
        except Exception as error:
            raise Refused(f"{spec.resource} probe {spec.source} refused: {error}"
                          f"{compiler_errors(output)}") from error
    maps: dict[str, int] = {}
    for name in spec.maps:
        try:
            maps[name] = int(bpf[name.encode()].map_fd)
        except KeyError as error:
            bpf.cleanup()
            raise Refused(f"{spec.resource} probe {spec.source} has no map {name}") from error
    links = {tracepoint.decode(): int(fd) for tracepoint, fd in bpf.tracepoint_fds.items()}
    if not links:
        bpf.cleanup()
        raise Refused(f"{spec.resource} probe {spec.source} attached to no tracepoint")
    return bpf, Attached(maps=maps, links=links)


@contextmanager
def compiler_output(*, verbose: bool) -> Iterator[IO[bytes]]:
    """Catch what the compiler writes on stderr; pass it on only when debugging."""
    with tempfile.TemporaryFile() as output:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(output.fileno(), 2)
        try:
            yield output
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if verbose:
                output.seek(0)
                sys.stderr.write(output.read().decode(errors="replace"))


def compiler_errors(output: IO[bytes], *, most: int = 3) -> str:
    """The compiler's first error lines, to say why a probe was refused."""
    output.seek(0)
    lines = output.read().decode(errors="replace").splitlines()
    errors = [line.strip() for line in lines if "error:" in line][:most]
    return f" ({'; '.join(errors)})" if errors else ""


def main(argv: Sequence[str] | None = None) -> None:
    """Answer one request on the inherited socket, then exit without BCC's clean-up."""
    parser = argparse.ArgumentParser(prog="python -m agent.loader", description=__doc__)
    parser.add_argument("--socket", type=int, required=True,
                        help="descriptor of the SOCK_SEQPACKET socket to the agent")
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.socket)
    specs, verbose = decode_request(sock.recv(MESSAGE_BYTES))
    _held, attached, refused = load(specs, verbose=verbose)  # kept until we exit
    send_reply(sock, attached, refused)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
