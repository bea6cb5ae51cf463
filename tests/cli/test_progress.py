"""Progress you can follow (issue 13 item 5): a bar per stage with the counts of how its
items ended in a terminal, a line per finished item in a CI log.

Every expected figure is read from the run's own results, never written down here.
"""

import collections
import io
import json
import re

import pytest
from rich.console import Console

from edgeops import Recipe, StageError, hookimpl
from edgeops.cli.output import make_console
from edgeops.cli.progress import ProgressReporter, counts_text, short_reason
from edgeops.devices.profiles import resolve_profiles
from edgeops.models import QualitySpec
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.plugin_manager import tool_versions

from factories import BROKEN_ERROR, BROKEN_RECIPE_PLUGIN, run_cli, tiny_onnx

# int8 variants of the tiny net score about 37-39 dB; fp32 and fp16 far above.
SNR_FLOOR_DB = 50
ITEM_LINE = re.compile(
    r"^(?P<stage>\w+): (?P<n>\d+)/(?P<total>\d+) (?P<outcome>\w+) (?P<label>.+?) "
    r"\((?P<elapsed_s>\d+\.\d) s\)(?:: (?P<reason>.+))?$"
)


class BrokenRecipe:
    @hookimpl
    def edgeops_recipes(self, artifact):
        return [Recipe.of(name="broken", format="onnx")] if artifact.format == "onnx" else []

    @hookimpl
    def edgeops_recipe_catalog(self):
        return ["onnx:broken"]

    @hookimpl
    def edgeops_optimize(self, artifact, recipe, workdir):
        raise StageError(BROKEN_ERROR)


def test_counts_show_only_non_zero_outcomes_in_a_fixed_order():
    counts = {"pruned": 12, "failed": 3, "unsupported": 0, "cached": 20, "made": 150}
    assert counts_text(counts) == "made 150 · cached 20 · failed 3 · pruned 12"
    assert counts_text({"supported": 1, "not_measured": 2}) == "supported 1 · not_measured 2"
    assert counts_text({}) == ""


def test_a_long_reason_is_cut_at_a_word_and_a_short_one_kept_whole():
    assert (
        short_reason("dominated by onnx:fp16 (no larger)") == "dominated by onnx:fp16 (no larger)"
    )
    ids = " ".join(f"onnx:variant-number-{i}" for i in range(40))
    cut = short_reason(ids)
    assert 240 <= len(cut) < 240 + len(" onnx:variant-number-99 …") and cut.endswith(" …")
    assert all(word in ids.split() for word in cut.removesuffix(" …").split())
    path = "/very/long/" + "x" * 300 + ".onnx"
    assert short_reason(f"cannot open\n  {path}") == f"cannot open {path}"
    assert short_reason(path) == path


def test_off_a_terminal_a_line_names_the_outcome_and_the_reason_last():
    out = io.StringIO()
    console = make_console()
    console.file = out
    with ProgressReporter(console) as reporter:
        reporter.edgeops_stage_started(stage="optimize", total=2)
        reporter.edgeops_stage_advanced(
            stage="optimize", label="onnx:fp32", outcome="made", reason=""
        )
        reporter.edgeops_stage_advanced(
            stage="optimize", label="onnx:int8", outcome="failed", reason="bad\naxis"
        )
        reporter.edgeops_stage_finished(stage="optimize", summary="2 variant(s), 1 failed")
    lines = [re.sub(r" \(\d+\.\d s\)", "", line) for line in out.getvalue().splitlines()]
    assert lines == [
        "optimize: started, 2 item(s)",
        "optimize: 1/2 made onnx:fp32",
        "optimize: 2/2 failed onnx:int8: bad axis",
        "optimize: finished: 2 variant(s), 1 failed; made 1 · failed 1",
    ]


def _items(lines: list[str], stage: str) -> list[tuple[str, str, str]]:
    """(label, outcome, reason) of each of ``stage``'s item lines, in order."""
    found = []
    for line in lines:
        m = ITEM_LINE.match(line)
        if m and m["stage"] == stage:
            found.append((m["label"], m["outcome"], m["reason"] or ""))
    return found


def _outcomes(lines: list[str], stage: str) -> dict[str, tuple[str, str]]:
    """label -> (outcome, reason) of ``stage``'s item lines; a label told twice fails."""
    items = _items(lines, stage)
    labels = [label for label, _, _ in items]
    assert len(labels) == len(set(labels)), f"{stage}: an item told twice: {labels}"
    return {label: (outcome, reason) for label, outcome, reason in items}


def _finished(lines: list[str], stage: str) -> str:
    (line,) = [line for line in lines if line.startswith(f"{stage}: finished: ")]
    return re.sub(r" \(\d+\.\d s\)$", "", line)


def _variant_id(v: dict) -> str:
    return f"{v['format']}:{v['recipe']['name']}"


def _below_floor(v: dict) -> bool:
    return v["status"] == "ok" and v["pruned"].get("*", "").startswith("host quality")


@pytest.mark.slow
def test_a_ship_in_ci_logs_every_variant_its_outcome_and_each_stage_its_counts(tmp_path):
    (tmp_path / "broken_recipe.py").write_text(BROKEN_RECIPE_PLUGIN)
    folder = tmp_path / "model"
    folder.mkdir()
    tiny_onnx(folder / "m.onnx")
    (folder / "edgeops.toml").write_text(
        '[model]\nname = "tiny"\nversion = "1.0.0"\nsource = "m.onnx"\ntask = "segmentation"\n\n'
        f'[model.quality]\nmetric = "snr_db"\nfloor = {SNR_FLOOR_DB}\n'
    )
    env = {
        "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch",
        "PYTHONPATH": str(tmp_path),
        "EDGEOPS_PLUGINS": "broken_recipe",
        # A narrow terminal width must not wrap, cut or pad a log line.
        "COLUMNS": "20",
    }
    fast = ("--rounds", "3", "--min-runs", "3", "--min-duration-s", "0")

    first = run_cli(
        "ship", "model", "--profile", "host", *fast, "--out", "b1", cwd=tmp_path, env=env
    )
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((tmp_path / "b1" / "results.json").read_text())
    lines = first.stderr.splitlines()
    assert all(line == line.rstrip() for line in lines)

    variants = results["variants"]
    expected: dict[str, tuple[str, str]] = {}
    for v in variants:
        if v["status"] != "ok":
            expected[_variant_id(v)] = ("failed", v["error"])
        elif _below_floor(v):
            expected[_variant_id(v)] = ("pruned", v["pruned"]["*"])
        else:
            expected[_variant_id(v)] = ("made", "")
    outcomes = collections.Counter(outcome for outcome, _ in expected.values())
    assert outcomes["failed"] >= 1 and outcomes["pruned"] >= 1 and outcomes["made"] >= 1
    assert expected["onnx:broken"] == ("failed", BROKEN_ERROR)
    assert _outcomes(lines, "optimize") == expected
    assert _finished(lines, "optimize").endswith(f"; {counts_text(outcomes)}")
    assert any(len(line) > 20 and "onnx:int8-static" in line for line in lines)

    built = [v for v in variants if v["status"] == "ok"]
    pruned = {_variant_id(v): v["pruned"] for v in built if v["pruned"]}
    assert _outcomes(lines, "prune") == {
        _variant_id(v): ("pruned", next(iter(pruned[_variant_id(v)].values())))
        if _variant_id(v) in pruned
        else ("kept", "")
        for v in built
    }
    assert _finished(lines, "prune").endswith(
        f"; {counts_text({'kept': len(built) - len(pruned), 'pruned': len(pruned)})}"
    )

    measure = _items(lines, "measure")
    counted = collections.Counter(outcome for _, outcome, _ in measure)
    measured = [m for m in results["measurements"] if m["status"] == "ok"]
    assert counted["measured"] == sum(m["rounds"] for m in measured) >= 2
    # Successive halving drops what is clearly beaten: told as pruned, with its reason.
    stopped = [
        m["environment"]["stopped_early"] for m in measured if "stopped_early" in m["environment"]
    ]
    assert sorted(r for _, outcome, r in measure if outcome == "pruned") == sorted(
        short_reason(r) for r in stopped
    )
    assert _finished(lines, "measure").endswith(f"; {counts_text(counted)}")
    # xnnpack is no ONNX Runtime unit: said once per job, not again at every look.
    unsupported = [label for label, outcome, _ in measure if outcome == "unsupported"]
    assert len(unsupported) == len(set(unsupported))
    assert _outcomes(lines, "select") == {
        p["profile_id"]: (p["status"], "") for p in results["plans"]
    }
    assert _outcomes(lines, "convert")["onnx"] == ("made", "")

    # Again, in this process (--jobs 1): everything comes from the cache, and host
    # scoring is a stage of its own.
    again = run_cli(
        "ship", "model", "--profile", "host", *fast, "--jobs", "1", "--out", "b2",
        "--reuse-measurements", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads((tmp_path / "b2" / "results.json").read_text())
    lines = again.stderr.splitlines()
    assert second["cache"]["optimizations_made"] == 0
    assert _outcomes(lines, "convert")["onnx"] == ("cached", "")
    assert _outcomes(lines, "optimize") == {
        _variant_id(v): ("cached", "") if v["status"] == "ok" else ("failed", v["error"])
        for v in second["variants"]
    }
    assert _outcomes(lines, "evaluate") == {
        _variant_id(v): ("pruned", v["pruned"]["*"]) if _below_floor(v) else ("cached", "")
        for v in second["variants"]
        if v["status"] == "ok"
    }
    reused = [label for label, outcome, _ in _items(lines, "measure") if outcome == "cached"]
    assert len(reused) == second["cache"]["measurements_reused"] >= 1


def test_the_bar_in_a_terminal_shows_each_stages_counts(
    tmp_path, edgeops_pm, edgeops_workspace, register_plugin
):
    register_plugin(BrokenRecipe(), name="broken_recipe")
    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    spec = spec.model_copy(
        update={
            "recipes": ("fp32", "fp16", "int8-dynamic", "broken"),
            "quality": QualitySpec(metric="snr_db", floor=SNR_FLOOR_DB),
        }
    )
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    told: list[tuple[str, str]] = []

    class WrittenBeforeOutcomes:
        """An observer that takes only the arguments the hook had first (pluggy)."""

        @hookimpl
        def edgeops_stage_advanced(self, stage, label):
            told.append((stage, label))

    register_plugin(WrittenBeforeOutcomes())
    console = Console(file=io.StringIO(), force_terminal=True, width=200, record=True)
    reporter = ProgressReporter(console)
    assert reporter.live
    register_plugin(reporter, name="edgeops.cli.progress")
    pipeline = Pipeline(edgeops_pm, edgeops_workspace, jobs=1)
    with reporter:
        results = pipeline.prune(pipeline.optimize(pipeline.convert(spec, [host])))
    rows = {line.split()[0]: line for line in console.export_text().splitlines() if line.strip()}

    made = sum(v.status == "ok" for v in results.variants)
    failed = sum(v.status != "ok" for v in results.variants)
    below = sum(
        v.status == "ok" and v.pruned.get("*", "").startswith("host quality")
        for v in results.variants
    )
    assert failed == 1 and below >= 1 and made >= 2
    assert counts_text({"made": made, "failed": failed}) in rows["optimize"]
    assert counts_text({"scored": made - below, "pruned": below}) in rows["evaluate"]
    ruled_out = sum(bool(v.pruned) for v in results.variants)
    assert counts_text({"kept": made - ruled_out, "pruned": ruled_out}) in rows["prune"]
    assert counts_text({"made": 1}) in rows["convert"]
    assert [label for stage, label in told if stage == "optimize"] == [
        v.name for v in results.variants
    ]


def test_the_reporter_is_no_part_of_a_cache_key(edgeops_pm, register_plugin):
    """The CLI registers it, worker processes do not: were it in the key, a variant made
    in one would be made again in the other (and editing the reporter re-made all)."""
    before = tool_versions(edgeops_pm)
    register_plugin(ProgressReporter(make_console()), name="edgeops.cli.progress")
    assert tool_versions(edgeops_pm) == before
    register_plugin(BrokenRecipe(), name="broken_recipe")
    assert "plugin:broken_recipe" in tool_versions(edgeops_pm)


def test_what_cannot_run_on_a_profile_is_told_pruned_in_the_prune_stage(
    edgeops_pm, edgeops_workspace, register_plugin
):
    from factories import unfit_on_iphonex

    told: list[tuple[str, str, str, str]] = []

    class Observer:
        @hookimpl
        def edgeops_stage_advanced(self, stage, label, outcome, reason):
            told.append((stage, label, outcome, reason))

    register_plugin(Observer())
    results = unfit_on_iphonex(edgeops_pm)
    (pruned,) = Pipeline(edgeops_pm, edgeops_workspace).prune(results).variants
    assert list(pruned.pruned) == ["iphonex"]
    assert told == [("prune", "coreml:w8a8", "pruned", f"iphonex: {pruned.pruned['iphonex']}")]
