"""The local search's parameters, in one validated place.

One set of defaults serves every week (co-op weeks and the Mankowska benchmark alike): a
value that helps one family of instances must help the other too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scheduler.search.operators import OP_NAMES, P_BACK, P_BLINK, P_DOUBLE_BIAS, P_RUIN_MAX, P_RUIN_ROUTES

DEFAULT_OP_WEIGHTS: dict[str, float] = {
    "relocate": 10.0,
    "swap": 8.0,
    "two_opt_star": 5.0,
    "or_opt": 6.0,
    "cross": 5.0,
    "reinsert": 4.0,
    "client": 2.0,
    "insert": 3.0,
    "remove": 0.5,
    "ruin": 1.5,
}


@dataclass(frozen=True)
class SearchParams:
    """How the simulated annealing over routes moves and cools.

    ``op_weights``: how often each operator is drawn (relative). ``blink``: chance that a
    best-insertion skips a position (diversity, as in SISR). ``back_positions``: how many
    positions before the visit's earliest start an insertion also tries. ``ruin_*``: the
    longest string taken out of one carer's day, and how many carers a ruin touches
    besides the seed's. ``double_up_bias``: share of reinsert moves drawn from double-ups.
    The temperature starts at ``t_start_factor`` times the median worsening of random
    moves and falls geometrically to ``t_end_ratio`` of that. ``work_per_second`` converts
    the deterministic work count into seconds for ``--workers 1`` runs.
    """

    op_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_OP_WEIGHTS))
    blink: float = 0.01
    back_positions: int = 2
    ruin_max_string: int = 4
    ruin_routes: int = 3
    double_up_bias: float = 0.3
    t_start_factor: float = 1.0
    t_end_ratio: float = 0.002
    calibration_moves: int = 400
    chunk_moves: int = 400
    work_per_second: float = 1.2e7
    sync_fraction: float = 0.1

    def __post_init__(self) -> None:
        errors: list[str] = []
        unknown = sorted(set(self.op_weights) - set(OP_NAMES))
        if unknown:
            errors.append(f"op_weights: unknown operator(s) {', '.join(unknown)}")
        if any(w < 0 for w in self.op_weights.values()):
            errors.append("op_weights: weights must be >= 0")
        if not any(w > 0 for w in self.op_weights.values()):
            errors.append("op_weights: at least one operator needs a weight > 0")
        if not 0.0 <= self.blink < 0.5:
            errors.append(f"blink: must be in [0, 0.5), got {self.blink}")
        if self.back_positions < 0:
            errors.append(f"back_positions: must be >= 0, got {self.back_positions}")
        if self.ruin_max_string < 1 or self.ruin_routes < 1:
            errors.append("ruin_max_string, ruin_routes: must be >= 1")
        if not 0.0 <= self.double_up_bias <= 1.0:
            errors.append(f"double_up_bias: must be in [0, 1], got {self.double_up_bias}")
        if self.t_start_factor <= 0 or not 0.0 < self.t_end_ratio < 1.0:
            errors.append("t_start_factor must be > 0 and t_end_ratio in (0, 1)")
        if self.calibration_moves < 1 or self.chunk_moves < 1:
            errors.append("calibration_moves, chunk_moves: must be >= 1")
        if self.work_per_second <= 0:
            errors.append("work_per_second: must be > 0")
        if not 0.0 < self.sync_fraction <= 1.0:
            errors.append(f"sync_fraction: must be in (0, 1], got {self.sync_fraction}")
        if errors:
            raise ValueError("; ".join(errors))

    def vector(self) -> np.ndarray:
        par = np.zeros(8, np.float64)
        par[P_BLINK] = self.blink
        par[P_BACK] = self.back_positions
        par[P_RUIN_MAX] = self.ruin_max_string
        par[P_RUIN_ROUTES] = self.ruin_routes
        par[P_DOUBLE_BIAS] = self.double_up_bias
        return par

    def op_cumulative(self) -> np.ndarray:
        return np.cumsum([float(self.op_weights.get(name, 0.0)) for name in OP_NAMES])
