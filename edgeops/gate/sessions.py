"""How far a device's speed moves between sessions: the between-session spread σ.

A device is not the same speed on two days (heat, background work, OS
updates, another unit of the same phone in a farm). A gate that compares
rounds stored from two sessions must carry that spread, or its error rates
are within-session rates (issue 29 measured 18.5% false alarms at σ = 3%
with the within-session test).

**Estimate.** From the workspace history: every finished run is a session;
a file measured unchanged (same sha256) on the same device, profile and
compute unit in several sessions gives one mean log round median per
session. The spread of those means, less what their own rounds explain, is
σ² (one-way random effects, method of moments: Searle, Casella & McCulloch,
"Variance Components", 1992, §3.5), pooled over files. The gate uses its
one-sided 95% upper confidence bound: a spread estimated from a handful of
sessions is more often too small than too large, and too small gives false
alarms.

**Default.** With fewer than MIN_HISTORY_DF degrees of freedom in the
history, σ = 3%: the median run-to-run spread of careful, cooled iPhone
runs in the field (ultralytics/yolo-ios-app#320; the worst was 17%), below
what this project's own host showed between sessions (12-25% on a shared
CI host, README "Decisions under noise"). It is a typical device, not a
bad day; a workspace with history replaces it with its own figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeops.gate.stats import spread_upper
from edgeops.models import Results
from edgeops.round_stats import log_round_medians

DEFAULT_SESSION_SIGMA = 0.03
# Sessions less files: 3 is e.g. four sessions of one file, or two files in
# three sessions and one in two. Fewer leave the upper bound above 2.5x the
# estimate, i.e. uninformative.
MIN_HISTORY_DF = 3
# The newest finished runs read for the estimate.
HISTORY_RUNS = 50


@dataclass(frozen=True)
class SessionSpread:
    """The between-session spread a gate across sessions assumes, and where it came from."""

    sigma: float  # sd of a session's log offset; the gate uses this
    source: str  # "history", "default" or "given"
    sessions: int = 0  # sessions the history estimate came from
    files: int = 0  # unchanged files (on a device) measured in several of them
    estimate: float | None = None  # the point estimate, of which sigma is the upper bound

    @property
    def label(self) -> str:
        """``σ = 3.0%, default`` or ``σ = 2.1%, from 7 sessions``: what the verdict names."""
        how = f"from {self.sessions} sessions" if self.source == "history" else self.source
        return f"σ = {100 * self.sigma:.1f}%, {how}"


def default_spread(sigma: float = DEFAULT_SESSION_SIGMA, source: str = "default") -> SessionSpread:
    return SessionSpread(sigma=sigma, source=source)


@dataclass(frozen=True)
class SessionMean:
    """One file's mean log round median in one session, and that mean's own variance."""

    run_id: str
    log_p50: float
    variance: float  # of the mean: s²/n over its rounds


def estimate_spread(groups: Iterable[Sequence[SessionMean]]) -> SessionSpread | None:
    """σ from session means of unchanged files (one group per file and device), or None if too few.

    E[spread² of a group's session means] = σ² + E[their own variance], so
    σ² = pooled spread² - mean own variance, clamped at 0; the bound moves
    the pooled spread to its 95% upper confidence bound first.
    """
    ss, df, own, runs, files = 0.0, 0, [], set(), 0
    for group in groups:
        if len(group) < 2:
            continue
        logs = np.array([g.log_p50 for g in group])
        ss += float(((logs - logs.mean()) ** 2).sum())
        df += len(group) - 1
        own += [g.variance for g in group]
        runs |= {g.run_id for g in group}
        files += 1
    if df < MIN_HISTORY_DF:
        return None
    pooled = ss / df
    within = float(np.mean(own))
    estimate = math.sqrt(max(pooled - within, 0.0))
    upper = math.sqrt(max(pooled * spread_upper(df) ** 2 - within, 0.0))
    return SessionSpread(
        sigma=upper, source="history", sessions=len(runs), files=files, estimate=estimate
    )


def session_means(results: Results) -> dict[tuple[str, str, str, str], SessionMean]:
    """Per (profile, sha256, device, compute unit): the run's mean log round median of that file.

    Only measured files with a sha256 and at least two rounds count; one
    file measured twice in a run (a re-measured baseline beside its twin)
    counts once.
    """
    sha = {v.id: v.sha256 for v in results.variants if v.sha256}
    out: dict[tuple[str, str, str, str], SessionMean] = {}
    for m in results.measurements:
        if m.status != "ok" or m.method != "measured" or m.variant_id not in sha:
            continue
        key = (m.profile_id, sha[m.variant_id], m.device_id, m.compute_unit)
        if key in out:
            continue
        try:
            logs = log_round_medians(m)
        except ValueError:
            continue
        if len(logs) < 2:
            continue
        out[key] = SessionMean(
            results.run_id, float(logs.mean()), float(logs.var(ddof=1)) / len(logs)
        )
    return out


def spreads_by_profile(runs: Iterable[Results]) -> dict[str, SessionSpread]:
    """Each profile's between-session spread from these runs; profiles with too few are left out."""
    groups: dict[str, dict[tuple[str, str, str], list[SessionMean]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for results in runs:
        for (profile, sha, device, unit), mean in session_means(results).items():
            groups[profile][(sha, device, unit)].append(mean)
    out = {}
    for profile, by_file in groups.items():
        spread = estimate_spread(by_file.values())
        if spread is not None:
            out[profile] = spread
    return out


def history_runs(
    history_path: Path, exclude: Iterable[str] = (), model: str | None = None
) -> list[Results]:
    """The workspace's finished runs whose results.json is still readable, newest first.

    ``exclude`` names runs left out (the two a gate compares: the estimate
    should not come from the data it is used to judge); ``model`` keeps only
    that model's runs (a gate reads its own model's, not every bundle). A
    bundle that cannot be read is skipped: the history is evidence, not input.
    """
    from edgeops.errors import ResultsError
    from edgeops.gate.inputs import MAX_FILE_BYTES
    from edgeops.pipeline.bundle import read_results
    from edgeops.pipeline.history import History

    skip = set(exclude)
    out = []
    for run in History(history_path).runs(limit=HISTORY_RUNS):
        if run.run_id in skip or run.status not in {"ok", "unsupported"} or not run.bundle:
            continue
        if model is not None and run.model != model:
            continue
        path = Path(run.bundle) / "results.json"
        try:
            # A regular file within the gate's bound, checked before it is read.
            if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            out.append(read_results(path))
        except (OSError, ResultsError):
            continue
    return out
