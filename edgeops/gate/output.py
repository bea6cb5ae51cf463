"""A gate report four ways: rich tables, JUnit XML, Markdown for CI pages, and JSON."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from edgeops.gate.compare import Check, GateReport, Verdict

if TYPE_CHECKING:
    from rich.table import Table

LABELS: dict[Verdict, str] = {
    "pass": "PASS",
    "fail": "FAIL",
    "inconclusive": "INCONCLUSIVE",
    "not_measured": "NOT MEASURED",
}
_STYLES: dict[Verdict, str] = {
    "pass": "green",
    "fail": "bold red",
    "inconclusive": "yellow",
    "not_measured": "yellow",
}
_MARKS: dict[Verdict, str] = {
    "pass": "✅",
    "fail": "❌",
    "inconclusive": "⚠️",
    "not_measured": "⚠️",
}
CHECK_COLUMNS = ("profile", "check", "verdict", "baseline", "current", "change", "detail")
VARIANT_COLUMNS = (
    "variant",
    "profile",
    "unit",
    "p50 ms",
    "latency change",
    "verdict",
    "memory",
    "size",
    "quality",
)


def title(report: GateReport) -> str:
    modes = latency_modes(report)
    return (
        f"edgeops gate: {LABELS[report.verdict]} — {report.model} "
        f"{report.current_version} (run {report.current_run}) vs "
        f"{report.baseline_version} (run {report.baseline_run})"
        + (f"; latency {', '.join(modes)}" if modes else "")
    )


def latency_modes(report: GateReport) -> list[str]:
    """How the gating latency checks compared, each named once: the mode that decided."""
    return list(dict.fromkeys(c.latency.mode for c in report.checks if c.latency))


def verdict_cell(check: Check) -> str:
    """PASS, or for latency ``PASS (paired, same session)``: a verdict names its mode."""
    if check.latency is not None and check.latency.mode:
        return f"{LABELS[check.verdict]} ({check.latency.mode})"
    return LABELS[check.verdict]


# --------------------------------------------------------------------------- cells


def check_cells(check: Check) -> tuple[str, ...]:
    return (
        check.profile_id,
        check.name,
        verdict_cell(check),
        _value(check.baseline, check.unit),
        _value(check.current, check.unit),
        check.latency.change if check.latency else _pct(check.change_pct),
        check.detail,
    )


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "bytes":
        return _size(value)
    return f"{value:.4g}"


def _size(size_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.2f} {unit}"
    return f"{size_bytes:.0f} B"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}%"


def variant_cells(report: GateReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for row in report.variants:
        lat = row.latency
        rows.append(
            (
                row.variant,
                row.profile_id,
                row.compute_unit,
                f"{lat.baseline_p50_ms:.3f} → {lat.current_p50_ms:.3f}" if lat else "",
                lat.change if lat else row.note,
                LABELS[lat.verdict] if lat else "",
                f"{row.memory_change_mb:+.1f} MB" if row.memory_change_mb is not None else "",
                _pct(row.size_change_pct),
                f"{row.quality_change:+.4g}" if row.quality_change is not None else "",
            )
        )
    return rows


def method_note(report: GateReport) -> str:
    s = report.settings
    per_profile = ", ".join(f"{k} {v:g}%" for k, v in sorted(s.threshold_pct_by_profile.items()))
    return (
        f"Latency: one observation per round (fresh probe process); a group-sequential test "
        f"with error spending (false alarms at 0% change {s.design.alpha:g} nominal, power "
        f"{s.design.power:.0%} at the threshold) fails a slowdown of {s.threshold_pct:g}%"
        + (f" ({per_profile})" if per_profile else "")
        + " and passes no change. Paired, same session: the baseline's primary measured again "
        "beside the current, round by round, and a one-sample t on the paired round "
        "differences; across sessions: Welch's t on the stored rounds with 2σ² added for the "
        "two sessions' offsets (σ from the workspace history, else 3%). The interval shown is "
        f"95% for the ratio of round medians, in the mode that decided. Memory: +{s.memory_threshold_pct:g}% and "
        f"+{s.memory_threshold_mb:g} MB. Size: +{s.size_threshold_pct:g}%. Quality: the floor, "
        f"and a drop of at most {s.quality_drop_pct:g}%. Predictions never pass."
    )


# --------------------------------------------------------------------------- formats


def rich_tables(report: GateReport) -> list[Table]:
    from rich.table import Table

    checks = Table(title=title(report), title_justify="left")
    for column in CHECK_COLUMNS:
        checks.add_column(column, overflow="fold")
    for check in report.checks:
        cells = list(check_cells(check))
        cells[2] = f"[{_STYLES[check.verdict]}]{cells[2]}[/]"
        checks.add_row(*cells)
    tables = [checks]
    if report.variants:
        variants = Table(title="every variant in both runs (report only)", title_justify="left")
        for column in VARIANT_COLUMNS:
            variants.add_column(column)
        for row in variant_cells(report):
            variants.add_row(*row)
        tables.append(variants)
    return tables


def junit_xml(report: GateReport) -> str:
    """One test case per profile and check.

    JUnit has no "inconclusive": inconclusive and not-measured checks are
    ``<skipped>`` with the reason, so CI pages show them apart from failures;
    the exit code (3) still stops the pipeline.
    """
    checks = report.checks
    failures = sum(c.verdict == "fail" for c in checks)
    skipped = sum(c.verdict in ("inconclusive", "not_measured") for c in checks)
    counts = {
        "tests": str(len(checks)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
    }
    root = ET.Element("testsuites", {"name": "edgeops gate", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"edgeops gate: {report.model}", **counts})
    for check in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"edgeops.gate.{check.profile_id}",
                "name": check.name,
                "time": "0",
            },
        )
        message = f"{verdict_cell(check)}: {check.detail}"
        if check.verdict == "fail":
            ET.SubElement(
                case, "failure", {"message": message, "type": "regression"}
            ).text = message
        elif check.verdict != "pass":
            ET.SubElement(case, "skipped", {"message": message})
        if check.latency is not None and check.latency.mode:
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", {"name": "mode", "value": check.latency.mode})
        cells = check_cells(check)
        figures = zip(("baseline", "current", "change"), cells[3:6], strict=True)
        ET.SubElement(case, "system-out").text = "; ".join(
            [f"{name} {cell}" for name, cell in figures if cell] + [check.detail]
        )
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def markdown_summary(report: GateReport) -> str:
    lines = [f"## {_MARKS[report.verdict]} {title(report)}", ""]
    lines += _markdown_table(CHECK_COLUMNS, [_marked(c) for c in report.checks])
    if report.variants:
        lines += [
            "",
            f"<details><summary>Every variant in both runs ({len(report.variants)}, report only)</summary>",
            "",
        ]
        lines += _markdown_table(VARIANT_COLUMNS, variant_cells(report))
        lines += ["", "</details>"]
    lines += ["", f"<sub>{method_note(report)}</sub>", ""]
    return "\n".join(lines)


def _marked(check: Check) -> tuple[str, ...]:
    cells = list(check_cells(check))
    cells[2] = f"{_MARKS[check.verdict]} {cells[2]}"
    return tuple(cells)


def _markdown_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def report_json(report: GateReport) -> dict[str, Any]:
    data = dataclasses.asdict(report)
    data["settings"] = report.settings.model_dump()  # a pydantic model: asdict keeps it whole
    data["verdict"] = report.verdict
    data["exit_code"] = report.exit_code
    data["latency_modes"] = latency_modes(report)
    for profile, gated in zip(data["profiles"], report.profiles, strict=True):
        profile["verdict"] = gated.verdict
    return data
