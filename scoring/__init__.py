"""Pure scoring: which machine best matches the pressure. numpy only, no I/O.

The controller and the simulator call the same functions, so what the simulator
reports is what the controller would do.
"""

from scoring.engine import score
from scoring.model import (
    Candidates,
    CandidateScore,
    Decision,
    Direction,
    Explanation,
    ScoringInputError,
    ScoringRequest,
    Weights,
)
from scoring.pressure import PressureThresholds, Situation, assess

__all__ = [
    "CandidateScore",
    "Candidates",
    "Decision",
    "Direction",
    "Explanation",
    "PressureThresholds",
    "ScoringInputError",
    "ScoringRequest",
    "Situation",
    "Weights",
    "assess",
    "score",
]
