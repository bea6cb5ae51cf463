"""The gate's settings: thresholds, the sequential design and the session spreads."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeops.gate.sessions import SessionSpread, default_spread
from edgeops.gate.stats import SequentialDesign


@dataclass(frozen=True)
class GateSettings:
    threshold_pct: float = 5.0
    threshold_pct_by_profile: dict[str, float] = field(default_factory=dict)
    memory_threshold_pct: float = 10.0
    memory_threshold_mb: float = 1.0
    size_threshold_pct: float = 5.0
    quality_drop_pct: float = 1.0
    confidence: float = 0.95
    design: SequentialDesign = field(default_factory=SequentialDesign)
    # Across sessions: each profile's between-session spread, from the
    # workspace history (gate/sessions.py); a profile without one uses the
    # default. ``session_sigma`` (a fraction) overrides both.
    session_spread_by_profile: dict[str, SessionSpread] = field(default_factory=dict)
    session_sigma: float | None = None

    def latency_threshold_pct(self, profile_id: str) -> float:
        return self.threshold_pct_by_profile.get(profile_id, self.threshold_pct)

    def session_spread(self, profile_id: str) -> SessionSpread:
        if self.session_sigma is not None:
            return default_spread(self.session_sigma, "given")
        return self.session_spread_by_profile.get(profile_id) or default_spread()
