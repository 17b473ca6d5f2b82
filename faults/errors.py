"""The base of every error raised at one of the project's boundaries.

A boundary is where the project meets something it does not control: a BMC
(``PowerError``), the API server (``KubeError``), a configuration document
(``ConfigError``, ``AgentConfigError``), the pressure stream (``StreamError``,
``FrameError``). Each converts its library's exceptions into one of these, chained
with ``from``, so that retry logic reads a single flag instead of guessing from
library types, status codes or message text.
"""

from __future__ import annotations


class BoundaryError(Exception):
    """A call across a boundary failed; ``retriable`` says whether trying again can help.

    True when the same call may succeed later unchanged (an unreachable BMC, a 503, a
    dropped connection); False when only a person can fix it (a wrong password, a
    missing permission, an invalid field). Subclasses set it per class or per
    instance. The default is False: retrying what cannot succeed hides the problem
    behind a stream of identical warnings.
    """

    retriable: bool = False
