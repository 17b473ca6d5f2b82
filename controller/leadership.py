"""The gate every power command and eviction passes: is this replica still the leader now?

A leader that cannot renew its Lease steps down before any other replica may take it
(``controller.kube.leader``), but stepping down only sets a flag: the service then
unwinds its tasks, and an action already past its last ``await`` could still reach a
BMC or the Eviction API in between. So the actuator and the drainer ask right before
each call, with nothing awaited between the answer and the call, and a replica that
is no longer leader raises ``NotLeader`` instead of acting. The step is left as
recorded (``powering-on``, ``draining``...), which is what the next leader resumes
(``Actuator.resume``) without repeating a call.
"""

from __future__ import annotations

from collections.abc import Callable

StillLeading = Callable[[], bool]
"""True while this replica may act: leader, and its renew deadline not passed."""


class NotLeader(Exception):
    """A power command or eviction was about to go out from a replica that no longer
    leads; nothing was sent."""


def always_leading() -> bool:
    """The gate without leader election (``--no-leader-elect``, unit tests): one replica."""
    return True


def ensure_leading(still_leading: StillLeading, what: str) -> None:
    """Raise NotLeader unless still_leading() says this replica may act now."""
    if not still_leading():
        raise NotLeader(f"not leader any more: {what} not sent")
