"""The baseline measured again in this session (issue 29): ``ship --baseline`` and
``gate --remeasure`` measure the baseline's primary files beside the candidates, on the
same device, interleaved round by round; files are checked by sha256 before use; rounds
past the first two time the loop only."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from edgeops.devices.measurements import merge_rounds
from edgeops.devices.probe import main as probe_main
from edgeops.devices.scheduling import RoundBook, round_settings
from edgeops.models import Measurement, MeasureSettings

from factories import run_cli, tiny_onnx

CONFIG = """[model]
name = "tiny"
version = "{version}"
source = "m.onnx"
recipes = ["fp32", "int8-dynamic"]
"""
ENV = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
FAST = ("--min-runs", "5", "--min-duration-s", "0.05", "--json")


def project(root: Path, seed: int, version: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tiny_onnx(root / "m.onnx", seed=seed)
    (root / "edgeops.toml").write_text(CONFIG.format(version=version))
    return root


def ship(root: Path, *args: str, env: dict[str, str]) -> tuple[int, dict, str]:
    done = run_cli("ship", str(root), *FAST, *args, cwd=root.parent, env=env)
    return (
        done.returncode,
        json.loads(done.stdout) if done.returncode in (0, 4) else {},
        done.stderr,
    )


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict[str, str]]:
    """One shipped baseline bundle (seed 0) and the environment of its workspace."""
    root = tmp_path_factory.mktemp("remeasure")
    env = {
        **ENV,
        "EDGEOPS_HOME": str(root / "ws"),
        "EDGEOPS_LEASES": str(root / "leases.sqlite"),
    }
    code, out, err = ship(
        project(root / "a", 0, "1.0.0"), "--rounds", "3", "--out", str(root / "dist-a"), env=env
    )
    assert code == 0, err
    return root / "dist-a", out, env


# ---------------------------------------------------------------- fast: the parts


def test_round_ids_number_each_devices_rounds_in_the_order_measured() -> None:
    def m(device: str, ids: tuple[int, ...] | None = None) -> Measurement:
        return Measurement(
            variant_id="v", device_id=device, profile_id="p", compute_unit="cpu",
            status="ok", samples_ms=(1.0,), round_ids=ids,
        )  # fmt: skip

    recorded: list[Measurement] = []
    # A resumed run's rounds keep their ids; new ones are numbered after them.
    book = RoundBook({0: [m("d1", (0,)), m("d1", (4,))], 1: []}, record=recorded.append)
    book.add(1, m("d1"))
    book.add(0, m("d2"))
    book.add(1, m("d1"))
    assert [r.round_ids for r in book.rounds[1]] == [(5,), (6,)]
    assert book.rounds[0][-1].round_ids == (0,)  # another device counts from 0
    assert [r.round_ids for r in recorded] == [(5,), (0,), (6,)]  # the journal gets them too
    assert merge_rounds(book.rounds[1]).round_ids == (5, 6)
    # One round without an id (an imported log): none for the whole, pairing goes by order.
    assert merge_rounds([m("d1", (1,)), m("d1")]).round_ids is None
    assert isinstance(book.lock, type(threading.Lock()))


def test_rounds_past_the_full_ones_time_the_loop_only() -> None:
    settings = MeasureSettings(paced_fps=(30.0, 60.0))
    assert settings.full_rounds == 2
    assert round_settings(settings, 0) == settings and round_settings(settings, 1) == settings
    later = round_settings(settings, 2)
    assert later.timed_only and later.paced_fps == ()
    # Rounds added for a decision: full_rounds 0, every round timed only.
    assert round_settings(settings.model_copy(update={"full_rounds": 0}), 0).timed_only


def test_probe_timed_only_round_has_no_paced_loads_or_memory(tmp_path, capsys) -> None:
    model = tiny_onnx(tmp_path / "m.onnx")
    common = ["--model", str(model), "--min-runs", "3", "--min-duration-s", "0.02"]
    probe_main([*common, "--paced-fps", "30", "--paced-duration-s", "0.1"])
    full = json.loads(capsys.readouterr().out)
    probe_main([*common, "--paced-fps", "30", "--paced-duration-s", "0.1", "--timed-only"])
    timed = json.loads(capsys.readouterr().out)
    assert full["status"] == timed["status"] == "ok"
    assert full["paced"] and full["peak_mem"] and full["load_ms"] is not None
    assert full["cold_load"] is not None and "warm_load_ms" in full
    assert len(timed["samples_ms"]) >= 3 and timed["environment"]["timed_only"] is True
    for key in ("paced", "peak_mem", "load_ms", "cold_load", "warm_load_ms"):
        assert not timed.get(key), key


# ---------------------------------------------------------------- real ships


def rounds_on_device(out: dict) -> list[list[int]]:
    """Per round index, the ids every measurement on the device took in that round."""
    by_index: dict[int, list[int]] = {}
    for m in out["measurements"]:
        for i, rid in enumerate(m["round_ids"] or ()):
            by_index.setdefault(i, []).append(rid)
    return [sorted(by_index[i]) for i in sorted(by_index)]


@pytest.mark.slow
def test_ship_baseline_measures_the_baseline_primary_again_interleaved(tmp_path, baseline):
    bundle, base_out, env = baseline
    code, out, err = ship(
        project(tmp_path / "b", 1, "1.1.0"), "--rounds", "3", "--baseline", str(bundle), env=env
    )
    assert code == 0, err
    (base_plan,) = base_out["plans"]
    base_primary = base_plan["choices"][0]
    again = [m for m in out["measurements"] if m["remeasured_from"] == base_out["run_id"]]
    # Another source model (seed 1): its file is added, measured for the gate only.
    (m,) = again
    assert (m["variant_id"], m["compute_unit"]) == (
        base_primary["variant_id"],
        base_primary["compute_unit"],
    )
    added = next(v for v in out["variants"] if v["id"] == m["variant_id"])
    assert added["remeasured_only"] and added["remeasured_from"] == base_out["run_id"]
    base_variant = next(v for v in base_out["variants"] if v["id"] == m["variant_id"])
    assert added["sha256"] == base_variant["sha256"]
    assert m["status"] == "ok" and m["rounds"] == 3 and len(m["round_ids"]) == 3
    (plan,) = out["plans"]
    assert m["variant_id"] not in {c["variant_id"] for c in plan["choices"]}
    # Round by round: every measurement's i-th round lies between the others' (i-1)-th
    # and (i+1)-th, so the baseline's rounds sit beside the candidates' (A B B A ...).
    blocks = rounds_on_device(out)
    for earlier, later in zip(blocks, blocks[1:], strict=False):
        assert max(earlier) < min(later), blocks
    ids = [rid for m in out["measurements"] for rid in (m["round_ids"] or ())]
    assert len(ids) == len(set(ids))
    assert plan["device_time_s"] and plan["device_time_s"] > 0
    # Rounds past the first two time the loop only: in the run's journal, round by round.
    journal = Path(env["EDGEOPS_HOME"]) / "runs" / out["run_id"] / "rounds.jsonl"
    rounds = [json.loads(line) for line in journal.read_text().splitlines()]
    baseline_rounds = [r for r in rounds if r["variant_id"] == m["variant_id"]]
    assert [bool(r["paced"]) for r in baseline_rounds] == [True, True, False]
    assert [r["peak_mem"] is not None for r in baseline_rounds] == [True, True, False]
    # The gate against the baseline pairs the rounds measured side by side.
    current = tmp_path / out["bundle"]
    done = run_cli(
        "gate", "--baseline", str(bundle), "--current", str(current), "--json",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode in (0, 1, 3), done.stderr
    (profile,) = json.loads(done.stdout)["profiles"]
    latency = next(c for c in profile["checks"] if c["name"] == "latency")
    assert latency["latency"]["mode"] == "paired, same session", latency


@pytest.mark.slow
def test_byte_identical_baseline_is_measured_once_as_itself(tmp_path, baseline):
    bundle, base_out, env = baseline
    # The same model again: the primary's file is byte-identical to one of this run's.
    code, out, err = ship(
        project(tmp_path / "same", 0, "1.0.1"), "--rounds", "2", "--baseline", str(bundle), env=env
    )
    assert code == 0, err
    assert len(out["variants"]) == len(base_out["variants"])  # nothing added
    again = [m for m in out["measurements"] if m["remeasured_from"] == base_out["run_id"]]
    (m,) = again
    twin = next(v for v in out["variants"] if v["id"] == m["variant_id"])
    base_primary = base_out["plans"][0]["choices"][0]
    base_sha = next(
        v["sha256"] for v in base_out["variants"] if v["id"] == base_primary["variant_id"]
    )
    assert twin["sha256"] == base_sha and twin["remeasured_only"] is False
    assert m["compute_unit"] == base_primary["compute_unit"]
    # Measured once: one measurement of that file on that unit.
    same = [
        x
        for x in out["measurements"]
        if x["variant_id"] == m["variant_id"] and x["compute_unit"] == m["compute_unit"]
    ]
    assert len(same) == 1


@pytest.mark.slow
def test_tampered_baseline_file_is_refused_before_use(tmp_path, baseline):
    bundle, base_out, env = baseline
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    manifest = json.loads((tampered / "manifest.json").read_text())
    primary = manifest["profiles"]["host"]["choices"][0]["variant"]
    file = tampered / manifest["variants"][primary]["file"]
    data = bytearray(file.read_bytes())
    data[-1] ^= 1
    file.write_bytes(bytes(data))
    root = project(tmp_path / "c", 1, "1.2.0")
    done = run_cli("ship", str(root), *FAST, "--baseline", str(tampered), cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith("edgeops: error: baseline file") and "sha256" in lines[-1]
    assert "refusing to measure it" in lines[-1]
    # Refused before any work: nothing measured, no copy of the file made.
    assert "measure:" not in done.stderr
    runs = Path(env["EDGEOPS_HOME"]) / "baselines"
    assert not any(p.read_bytes() == bytes(data) for p in runs.glob("*/*"))


@pytest.mark.slow
def test_gate_remeasure_measures_both_primaries_again_in_one_session(tmp_path, baseline):
    bundle, base_out, env = baseline
    code, out, err = ship(
        project(tmp_path / "d", 1, "1.3.0"),
        "--rounds",
        "2",
        "--out",
        str(tmp_path / "dist-d"),
        env=env,
    )
    assert code == 0, err
    done = run_cli(
        "gate", "--baseline", str(bundle), "--current", str(tmp_path / "dist-d"),
        "--remeasure", "--rounds", "4", "--json", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode in (0, 1, 3), done.stderr
    report = json.loads(done.stdout)
    (profile,) = report["profiles"]
    latency = next(c for c in profile["checks"] if c["name"] == "latency")
    # Both sides measured now, beside each other: the gate decides in paired mode.
    assert latency["latency"]["mode"] == "paired, same session", latency
    # What the gate compared: the current run with both primaries measured now, the
    # baseline's marked, their rounds numbered in one interleaving on one device.
    from edgeops.api import load_results
    from edgeops.devices.discovery import discover_devices
    from edgeops.pipeline import Pipeline, Workspace
    from edgeops.pipeline.incumbents import remeasured_side_by_side
    from edgeops.plugin_manager import make_plugin_manager

    pm = make_plugin_manager()
    base, cur = load_results(bundle), load_results(tmp_path / "dist-d")
    both = remeasured_side_by_side(
        Pipeline(pm, Workspace(tmp_path / "ws")), base, bundle, cur, tmp_path / "dist-d",
        discover_devices(pm, None), tmp_path / "copies", rounds=3,
    )  # fmt: skip
    primary = cur.plans[0].choices[0]
    mine = next(
        m for m in both.measurements
        if (m.variant_id, m.compute_unit) == (primary.variant_id, primary.compute_unit)
    )  # fmt: skip
    (theirs,) = [m for m in both.measurements if m.remeasured_from == base.run_id]
    assert mine.device_id == theirs.device_id and mine.rounds == theirs.rounds == 3
    assert sorted((*(mine.round_ids or ()), *(theirs.round_ids or ()))) == list(range(6))
    assert mine.measured_at > cur.created_at  # measured again, not the stored rounds
    # Without the folders' variants there is nothing to measure again: one line, exit 2.
    alone = tmp_path / "alone.json"
    shutil.copy(tmp_path / "dist-d" / "results.json", alone)
    refused = run_cli(
        "gate", "--baseline", str(bundle), "--current", str(alone), "--remeasure",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert refused.returncode == 2 and "not a bundle folder" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_selection_keeps_the_remeasured_incumbent_file_until_paired_rounds_replace_it() -> None:
    import numpy as np

    from edgeops.selection import edgeops_select

    from factories import measurement, policy, profile, variant

    def rounds(variant_id: str, medians: list[float], seed: int, **update: object) -> Measurement:
        rng = np.random.default_rng(seed)
        samples = tuple(m * x for m in medians for x in rng.lognormal(0, 0.01, 20))
        return measurement("kept", float(np.median(samples))).model_copy(
            update={
                "variant_id": variant_id,
                "samples_ms": samples,
                "rounds": len(medians),
                "round_sizes": (20,) * len(medians),
                "round_ids": tuple(range(len(medians))),
                **update,
            }
        )

    # The newcomer is the same recipe (same name) as the incumbent, a new file, smaller.
    newcomer = variant("kept", size_bytes=1000).model_copy(update={"id": "id-new"})
    incumbent = variant("kept", size_bytes=2000).model_copy(
        update={"id": "id-old", "sha256": "0" * 64, "remeasured_from": "run0"}
    )
    drift = [1.0, 1.06, 0.96, 1.03, 0.98, 1.01]

    def choose(factor: float) -> str:
        plan = edgeops_select(
            profile=profile(),
            variants=[newcomer, incumbent],
            measurements=[
                rounds("id-new", [factor * d for d in drift], seed=1),
                rounds("id-old", drift, seed=2, remeasured_from="run0"),
            ],
            policy=policy(baseline_primary="onnx:kept"),
        )
        return plan.choices[0].variant_id

    # Within the noise: the incumbent's file stays, though the newcomer is smaller and
    # bears the baseline primary's name (the name alone no longer decides).
    assert choose(0.99) == "id-old"
    # Every pair of rounds 30% faster: the paired interval is past the margin, replaced.
    assert choose(0.7) == "id-new"


@pytest.mark.slow
def test_until_decided_adds_timed_rounds_to_the_candidate_and_its_baseline_together(
    tmp_path, baseline
):
    bundle, base_out, env = baseline
    root = project(tmp_path / "e", 1, "1.4.0")
    code, out, err = ship(
        root, "--rounds", "3", "--baseline", str(bundle), "--until-decided",
        "--max-extra-rounds", "4", env=env,
    )  # fmt: skip
    assert code == 0, err
    (plan,) = out["plans"]
    primary = plan["choices"][0]
    mine = next(
        m for m in out["measurements"]
        if (m["variant_id"], m["compute_unit"]) == (primary["variant_id"], primary["compute_unit"])
    )  # fmt: skip
    (theirs,) = [m for m in out["measurements"] if m["remeasured_from"] == base_out["run_id"]]
    # The primary (3 rounds) is short of a gate-ready 10: rounds were added, and the
    # re-measured baseline got the same, in the same sessions.
    assert mine["rounds"] > 3 and theirs["rounds"] == mine["rounds"]
    added_mine, added_theirs = mine["round_ids"][3:], theirs["round_ids"][3:]
    assert min(added_mine + added_theirs) > max(mine["round_ids"][:3] + theirs["round_ids"][:3])
    # Added rounds time the loop only: the paced runs pooled are the first two rounds'
    # (0.1 s per rate each at --min-duration-s 0.05), not one per round.
    for m in (mine, theirs):
        assert m["paced"] and all(p["frames"] > 0 for p in m["paced"])
        assert all(p["duration_s"] < 2.5 * 0.1 for p in m["paced"]), m["paced"]
