"""Reading BPF maps through the bpf(2) system call, without BCC or LLVM in the process.

The probes are compiled and attached by a short-lived loader process (agent/loader.py)
that hands the agent the maps' file descriptors. The agent only ever reads counters
from them, so all it needs of BPF is three commands: describe a map
(``BPF_OBJ_GET_INFO_BY_FD``), read it whole (``BPF_MAP_LOOKUP_BATCH``, one call for
every key and CPU) and, on kernels older than 5.7 that lack batches, walk it key by
key (``BPF_MAP_GET_NEXT_KEY`` and ``BPF_MAP_LOOKUP_ELEM``). Values are u64 counters.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Iterator
from pathlib import Path

BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
"""The bpf(2) system call number per machine (asm/unistd.h)."""

BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_GET_NEXT_KEY = 4
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_MAP_LOOKUP_BATCH = 24

PER_CPU_TYPES = {5: "percpu_hash", 6: "percpu_array", 10: "lru_percpu_hash"}
"""Map types whose values are one slot per possible CPU (enum bpf_map_type)."""

COUNTER_SIZE = 8
"""Every map the agent reads holds u64 counters."""

POSSIBLE_CPUS = Path("/sys/devices/system/cpu/possible")


class BpfError(OSError):
    """A bpf(2) call failed, or a map is not one the agent can read."""


class _ElemAttr(ctypes.Structure):
    _fields_ = (("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("key", ctypes.c_uint64), ("value", ctypes.c_uint64),
                ("flags", ctypes.c_uint64))


class _BatchAttr(ctypes.Structure):
    _fields_ = (("in_batch", ctypes.c_uint64), ("out_batch", ctypes.c_uint64),
                ("keys", ctypes.c_uint64), ("values", ctypes.c_uint64),
                ("count", ctypes.c_uint32), ("map_fd", ctypes.c_uint32),
                ("elem_flags", ctypes.c_uint64), ("flags", ctypes.c_uint64))


class _InfoAttr(ctypes.Structure):
    _fields_ = (("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32),
                ("info", ctypes.c_uint64))


class MapInfo(ctypes.Structure):
    """The head of struct bpf_map_info (the kernel fills as much as we ask for)."""

    _fields_ = (("type", ctypes.c_uint32), ("id", ctypes.c_uint32),
                ("key_size", ctypes.c_uint32), ("value_size", ctypes.c_uint32),
                ("max_entries", ctypes.c_uint32), ("map_flags", ctypes.c_uint32),
                ("name", ctypes.c_char * 16))


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(command: int, attr: ctypes.Structure) -> int:
    number = BPF_SYSCALL.get(platform.machine())
    if number is None:
        raise BpfError(errno.ENOSYS, f"no bpf(2) number known for {platform.machine()}")
    result = int(_libc.syscall(ctypes.c_long(number), ctypes.c_int(command),
                               ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr))))
    if result < 0:
        code = ctypes.get_errno()
        raise BpfError(code, os.strerror(code))
    return result


def possible_cpus(path: Path = POSSIBLE_CPUS) -> int:
    """How many CPUs per-CPU map values span: the kernel's possible mask, e.g. ``0-3,6``."""
    count = 0
    for part in path.read_text().strip().split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def map_info(fd: int) -> MapInfo:
    """What the kernel says of the map behind ``fd``."""
    info = MapInfo()
    attr = _InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    return info


class CounterMap:
    """A map of u64 counters read by file descriptor; owns the descriptor."""

    def __init__(self, fd: int, *, cpus: int | None = None, batched: bool = True) -> None:
        self.fd = fd
        self.info = map_info(fd)
        if self.info.value_size != COUNTER_SIZE:
            raise BpfError(errno.EINVAL, f"map {self.name}: values of "
                           f"{self.info.value_size} bytes are not u64 counters")
        self.per_cpu = self.info.type in PER_CPU_TYPES
        self.slots = (cpus or possible_cpus()) if self.per_cpu else 1
        self._batched = batched  # try BPF_MAP_LOOKUP_BATCH; off once the kernel says it has none
        entries, key_size = self.info.max_entries, self.info.key_size
        self._keys = ctypes.create_string_buffer(entries * key_size)
        self._values = (ctypes.c_uint64 * (entries * self.slots))()
        self._token = ctypes.create_string_buffer(max(key_size, 8))

    @property
    def name(self) -> str:
        """The map's name as the kernel holds it (at most 15 characters)."""
        return bytes(self.info.name).rstrip(b"\0").decode(errors="replace")

    def totals(self) -> dict[bytes, int]:
        """Every key's counter, summed over CPUs (raw key bytes → total)."""
        return {key: sum(values) for key, values in self.items()}

    def items(self) -> Iterator[tuple[bytes, list[int]]]:
        """Every key with its value per CPU (one element for a map that is not per-CPU)."""
        if self.fd < 0:
            raise BpfError(errno.EBADF, "map is closed")
        if self._batched:
            try:
                yield from self._batch()
                return
            except BpfError as error:
                if error.errno not in (errno.EINVAL, errno.ENOTSUP, 524):  # 524: ENOTSUPP
                    raise
                self._batched = False  # kernel before 5.7: no batches for this map type
        yield from self._walk()

    def _batch(self) -> list[tuple[bytes, list[int]]]:
        size, slots, entries = self.info.key_size, self.slots, self.info.max_entries
        token, keys, values = (ctypes.addressof(buffer)
                               for buffer in (self._token, self._keys, self._values))
        done, resume = 0, 0  # resume 0 (NULL): start from the beginning
        while done < entries:
            attr = _BatchAttr(in_batch=resume, out_batch=token, keys=keys + done * size,
                              values=values + done * slots * COUNTER_SIZE,
                              count=entries - done, map_fd=self.fd)
            try:
                _bpf(BPF_MAP_LOOKUP_BATCH, attr)
            except BpfError as error:
                if error.errno != errno.ENOENT:
                    raise
                done += attr.count  # ENOENT: the end was reached in this batch
                break
            if attr.count == 0:
                break
            done += attr.count
            resume = token
        return [(self._keys.raw[i * size:(i + 1) * size],
                 list(self._values[i * slots:(i + 1) * slots])) for i in range(done)]

    def _walk(self) -> Iterator[tuple[bytes, list[int]]]:
        size = self.info.key_size
        key, following = ctypes.create_string_buffer(size), ctypes.create_string_buffer(size)
        values = (ctypes.c_uint64 * self.slots)()
        previous = 0  # NULL: start from the first key
        while True:
            try:
                _bpf(BPF_MAP_GET_NEXT_KEY, _ElemAttr(map_fd=self.fd, key=previous,
                                                     value=ctypes.addressof(following)))
                _bpf(BPF_MAP_LOOKUP_ELEM, _ElemAttr(map_fd=self.fd,
                                                    key=ctypes.addressof(following),
                                                    value=ctypes.addressof(values)))
            except BpfError as error:
                if error.errno == errno.ENOENT:
                    return  # past the last key (or it vanished while walking: take what we have)
                raise
            yield following.raw, list(values)
            ctypes.memmove(key, following, size)
            previous = ctypes.addressof(key)

    def close(self) -> None:
        """Close the descriptor; safe to call twice."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
