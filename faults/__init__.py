"""What every layer shares about failure: one error base that says whether a retry can
help, and one backoff rule for how long to wait before it.

Agent and controller never import each other, and ``wire`` is the frame protocol
only, so these live in a package of their own that depends on nothing but the
standard library (an import contract keeps it that way).
"""

from faults.backoff import Backoff, equal_jitter, exponential
from faults.errors import BoundaryError

__all__ = ["Backoff", "BoundaryError", "equal_jitter", "exponential"]
