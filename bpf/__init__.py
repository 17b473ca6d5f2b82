"""BPF C sources for the node agent's pressure probes, loaded by file name.

Each ``*.bpf.c`` file is one resource's probe, compiled and attached on its own so
that a kernel refusing one leaves the others running. ``pressure.h`` holds the
counter indices that user space reads back (``agent/programs.py`` mirrors them and a
test keeps the two in step).
"""
