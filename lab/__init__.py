"""Real peers on one machine: control plane, BMC simulators, sshd, hollow nodes.

The integration tests and ``bamel lab`` start the same peers from here, each on
127.0.0.1 on a free port, in a temporary directory, stopped by its PID.
"""
