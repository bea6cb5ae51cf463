"""The gate's settings: the thresholds a user sets (declared in edgeops/options/gate.py),
the sequential design, and the session spreads read from the workspace."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from edgeops.gate.sessions import SessionSpread, default_spread
from edgeops.gate.stats import SequentialDesign
from edgeops.options.gate import GateOptions


class GateSettings(GateOptions):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    design: SequentialDesign = Field(default_factory=SequentialDesign)
    # Across sessions: each profile's between-session spread, from the
    # workspace history (gate/sessions.py); a profile without one uses the
    # default. ``session_sigma`` (a fraction) overrides both.
    session_spread_by_profile: dict[str, SessionSpread] = Field(default_factory=dict)

    def latency_threshold_pct(self, profile_id: str) -> float:
        return self.threshold_pct_by_profile.get(profile_id, self.threshold_pct)

    def session_spread(self, profile_id: str) -> SessionSpread:
        if self.session_sigma is not None:
            return default_spread(self.session_sigma, "given")
        return self.session_spread_by_profile.get(profile_id) or default_spread()
