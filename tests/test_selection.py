from edgeops.selection import edgeops_select

from factories import measurement, policy, profile, variant


def select(variants, measurements, **kw):
    return edgeops_select(
        profile=kw.pop("profile", profile()),
        variants=variants,
        measurements=measurements,
        policy=policy(**kw),
    )


def test_fastest_candidate_is_primary_and_ties_break_on_size():
    vs = [variant("big", size_bytes=2000), variant("small", size_bytes=1000), variant("slow")]
    ms = [measurement("big", 5.0), measurement("small", 5.0), measurement("slow", 9.0)]
    plan = select(vs, ms)
    assert plan.status == "supported"
    assert plan.choices[0].variant_name == "onnx:small"


def test_quality_floor_and_memory_reject_with_reasons():
    vs = [variant("lossy", iou=0.5), variant("fat"), variant("ok")]
    ms = [measurement("lossy", 1.0), measurement("fat", 2.0, mem_mb=600), measurement("ok", 3.0)]
    plan = select(vs, ms)  # app limit 1000 MB × 0.5 = 500 MB
    assert [c.variant_name for c in plan.choices] == ["onnx:ok"]
    reasons = {r.variant_name: r.reasons for r in plan.rejected}
    assert "iou 0.5 < floor 0.9" in reasons["onnx:lossy"]
    assert reasons["onnx:fat"][0].startswith("peak memory 600 MB > 500 MB")


def test_latency_budget_applies_to_p90():
    vs = [variant("jittery"), variant("steady")]
    ms = [measurement("jittery", 1.0, p90_ms=30.0), measurement("steady", 2.0, p90_ms=2.5)]
    plan = select(vs, ms, latency_budget_ms=10.0)
    assert plan.choices[0].variant_name == "onnx:steady"
    assert "p90 30.00 ms > budget 10 ms" in plan.rejected[0].reasons


def test_fallbacks_need_less_and_end_with_smallest_memory_on_cpu():
    vs = [variant("gpu"), variant("cpu-fast"), variant("cpu-lean"), variant("cpu-mid")]
    ms = [
        measurement("gpu", 1.0, mem_mb=300, unit="gpu"),
        measurement("cpu-fast", 2.0, mem_mb=250),
        measurement("cpu-mid", 3.0, mem_mb=260),
        measurement("cpu-lean", 4.0, mem_mb=50),
    ]
    plan = select(vs, ms)
    names = [c.variant_name for c in plan.choices]
    assert names == ["onnx:gpu", "onnx:cpu-fast", "onnx:cpu-lean"]
    assert plan.choices[0].requires == ("gpu",)
    assert plan.choices[-1].requires == ()
    assert plan.choices[-1].min_free_memory_mb == 100  # 50 MB at safety factor 0.5


def test_fallbacks_step_down_from_neural_engine_to_gpu_to_cpu():
    vs = [variant("ne"), variant("gpu"), variant("cpu")]
    ms = [
        measurement("ne", 1.0, unit="cpu_and_ne"),
        measurement("gpu", 2.0, unit="cpu_and_gpu"),
        measurement("cpu", 3.0, unit="cpu_only"),
    ]
    plan = select(vs, ms)
    assert [c.requires for c in plan.choices] == [("ane",), ("gpu",), ()]


def test_nothing_fits_is_unsupported_with_nearest_miss():
    vs = [variant("a", iou=0.5), variant("b", iou=0.8)]
    ms = [measurement("a", 1.0, mem_mb=900), measurement("b", 2.0)]
    plan = select(vs, ms)
    assert plan.status == "unsupported"
    assert plan.choices == ()
    assert plan.nearest_miss is not None and plan.nearest_miss.variant_name == "onnx:b"


def test_failed_measurements_and_variants_are_rejected_not_chosen():
    vs = [variant("oom"), variant("broken", status="error"), variant("fine")]
    ms = [measurement("oom", 1.0, status="oom"), measurement("fine", 5.0)]
    plan = select(vs, ms)
    assert [c.variant_name for c in plan.choices] == ["onnx:fine"]
    reasons = {r.variant_name: r.reasons[0] for r in plan.rejected}
    assert reasons["onnx:oom"] == "oom: it broke"
    assert reasons["onnx:broken"] == "failed to build: boom"


def test_no_measurements_is_not_measured():
    assert select([variant("a")], []).status == "not_measured"


# --------------------------------------------------------------------------- decisions under noise


def rounds(name, medians, mem_mb=100.0, unit="cpu", seed=0, per_round=20):
    """A measurement of ``name`` with one round per entry of ``medians`` (fresh processes)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    samples = tuple(m * x for m in medians for x in rng.lognormal(0, 0.01, per_round))
    return measurement(name, float(np.median(samples)), mem_mb=mem_mb, unit=unit).model_copy(
        update={
            "samples_ms": samples,
            "rounds": len(medians),
            "round_sizes": (per_round,) * len(medians),
        }
    )


DRIFT = [1.0, 1.05, 0.97, 1.02, 0.99]


def test_a_difference_inside_the_noise_is_a_tie_broken_by_the_smaller_file():
    # 3% apart, like onnx:fp32 against tflite:int8-full on the segmenter: the
    # smaller file wins whichever run happens to measure the big one faster.
    vs = [variant("fp32", size_bytes=710_000), variant("int8", size_bytes=240_000)]
    for seed, (a, b) in enumerate([(1.355, 1.397), (1.397, 1.355)]):
        ms = [
            rounds("fp32", [a * d for d in DRIFT], seed=seed),
            rounds("int8", [b * d for d in DRIFT], seed=seed + 10),
        ]
        plan = select(vs, ms)
        assert plan.choices[0].variant_name == "onnx:int8"
        assert plan.decision == "tie"
        assert "the smaller file" in (plan.decision_note or "")


def test_a_clearly_faster_variant_wins_over_a_smaller_one():
    vs = [variant("fp32", size_bytes=710_000), variant("int8", size_bytes=240_000)]
    ms = [rounds("fp32", DRIFT, seed=1), rounds("int8", [1.3 * d for d in DRIFT], seed=2)]
    plan = select(vs, ms)
    assert plan.choices[0].variant_name == "onnx:fp32" and plan.decision == "clear"
    c = plan.choices[0]
    assert c.p50_interval is not None and c.expected_p50_ms is not None
    assert c.p50_interval.low_ms < c.expected_p50_ms < c.p50_interval.high_ms and c.rounds == 5
    assert c.p50_interval.coverage == 0.95 and "5 round medians" in c.p50_interval.method


def test_ties_prefer_higher_quality_beyond_the_margin_then_size():
    # Predicted p50s tie exactly (weight-only Core ML variants on one compute unit):
    # 8-bit palettization keeps IoU 0.997, 2-bit 0.960; size alone chose 2-bit.
    vs = [
        variant("palettize8", iou=0.997, size_bytes=4000),
        variant("palettize4", iou=0.995, size_bytes=2000),
        variant("palettize2", iou=0.960, size_bytes=1000),
    ]
    ms = [measurement(v.recipe.name, 5.0) for v in vs]  # type: ignore[union-attr]
    plan = select(vs, ms)
    # 0.995 is within 0.5% of 0.997: equal quality, so the smaller of those two.
    assert plan.choices[0].variant_name == "onnx:palettize4"
    assert "higher iou" in (plan.decision_note or "")


def test_ties_prefer_the_baselines_primary():
    vs = [variant("a", size_bytes=2000), variant("b", size_bytes=1000)]
    ms = [measurement("a", 5.0), measurement("b", 5.1)]
    assert select(vs, ms).choices[0].variant_name == "onnx:b"
    plan = select(vs, ms, baseline_primary="onnx:a")
    assert plan.choices[0].variant_name == "onnx:a"
    assert "the primary of the baseline" in (plan.decision_note or "")


def test_the_incumbent_stays_until_shown_slower_past_the_margin():
    # An estimate 8% slower with an interval reaching back under the 5% margin
    # (noisy rounds): a newcomer is "slower", the incumbent is kept (undecided).
    vs = [variant("fast", size_bytes=2000), variant("kept", size_bytes=1000)]
    noisy = [1.0, 1.12, 0.95, 1.1, 0.93]
    ms = [rounds("fast", [1.0] * 5, seed=3), rounds("kept", [1.08 * d for d in noisy], seed=4)]
    assert select(vs, ms).choices[0].variant_name == "onnx:fast"
    plan = select(vs, ms, baseline_primary="onnx:kept")
    assert plan.choices[0].variant_name == "onnx:kept"
    assert plan.decision == "undecided"
    # Shown slower (its whole interval past the margin): replaced.
    ms = [rounds("fast", [1.0] * 5, seed=3), rounds("kept", [1.3 * d for d in DRIFT], seed=4)]
    plan = select(vs, ms, baseline_primary="onnx:kept")
    assert plan.choices[0].variant_name == "onnx:fast" and plan.decision == "clear"


def test_objectives_smallest_and_best_quality():
    vs = [
        variant("fast", iou=0.95, size_bytes=3000),
        variant("small", iou=0.93, size_bytes=1000),
        variant("good", iou=0.999, size_bytes=2000),
    ]
    ms = [measurement("fast", 1.0), measurement("small", 3.0), measurement("good", 2.0)]
    assert select(vs, ms).choices[0].variant_name == "onnx:fast"
    assert select(vs, ms, objective="smallest").choices[0].variant_name == "onnx:small"
    assert select(vs, ms, objective="best-quality").choices[0].variant_name == "onnx:good"


def test_frontier_marks_the_chosen_point_and_drops_dominated_ones():
    vs = [
        variant("fast", iou=0.95, size_bytes=3000),
        variant("small", iou=0.93, size_bytes=1000),
        variant("worse", iou=0.92, size_bytes=3500),
    ]
    ms = [measurement("fast", 1.0), measurement("small", 3.0), measurement("worse", 4.0)]
    plan = select(vs, ms)
    names = [(p.variant_name, p.chosen) for p in plan.frontier]
    assert names == [("onnx:fast", True), ("onnx:small", False)]


def test_fallbacks_must_save_ten_percent_memory_and_never_repeat():
    # int16x8 saves 0.1 MB of 2 MB at 35x the latency: no fallback. A twin with the
    # same unit, p50 and memory is one too many.
    vs = [variant("fp32"), variant("twin"), variant("int16x8"), variant("lean")]
    ms = [
        measurement("fp32", 1.4, mem_mb=2.0),
        measurement("twin", 1.4, mem_mb=2.0),
        measurement("int16x8", 48.0, mem_mb=1.9),
        measurement("lean", 3.0, mem_mb=1.0),
    ]
    plan = select(vs, ms)
    assert [c.variant_name for c in plan.choices] == ["onnx:fp32", "onnx:lean"]


def test_a_delegate_the_plain_cpu_cannot_replace_is_required():
    vs = [variant("custom-op")]
    ms = [
        measurement("custom-op", 2.0, unit="xnnpack"),
        measurement("custom-op", 0, unit="cpu", status="load_failed"),
    ]
    plan = select(vs, ms)
    assert plan.choices[0].compute_unit == "xnnpack"
    assert plan.choices[0].requires == ("xnnpack",)


def test_an_estimate_past_the_margin_is_not_a_tie_however_wide_its_interval():
    # Two rounds that disagree 3x make the interval huge; the 2.5x slower fp32 must
    # not win on quality because that interval reaches back to the fastest.
    vs = [variant("fp32", iou=0.999, size_bytes=4000), variant("int8", iou=0.95, size_bytes=1000)]
    ms = [rounds("fp32", [0.02, 0.07], seed=1), rounds("int8", [0.012, 0.02], seed=2)]
    plan = select(vs, ms)
    # Chosen by the estimate, but not "clear": the interval still reaches the margin.
    assert plan.choices[0].variant_name == "onnx:int8" and plan.decision == "undecided"
    assert "onnx:fp32 (cpu)" in (plan.decision_note or "")


def test_clear_needs_intervals_that_say_so():
    # From the issue: 31.2 ms [15.98, 60.8] against 34.5 ms [22.3, 53.4] was "clear".
    from edgeops.models import Interval

    def predicted(name, p50, low, high):
        return measurement(name, p50).model_copy(
            update={
                "method": "predicted",
                "samples_ms": (),
                "p50_interval": Interval(low_ms=low, high_ms=high, coverage=0.9, method="t"),
            }
        )

    vs = [variant("a"), variant("b")]
    plan = select(vs, [predicted("a", 31.2, 15.98, 60.8), predicted("b", 34.5, 22.3, 53.4)])
    assert plan.choices[0].variant_name == "onnx:a" and plan.decision == "undecided"
    apart = select(vs, [predicted("a", 31.2, 28.0, 34.0), predicted("b", 60.0, 50.0, 70.0)])
    assert apart.decision == "clear"
    # Measured rounds: a paired ratio wholly past the margin is clear.
    ms = [rounds("a", [1.0, 1.01, 0.99, 1.0]), rounds("b", [2.0, 2.02, 1.98, 2.0], seed=3)]
    assert select(vs, ms).decision == "clear"


def test_predictions_with_one_p50_for_every_recipe_are_a_tie():
    # A predictor that knows only the compute unit gives every CPU recipe one p50:
    # the choice among them is a tie-break, never a decision.
    vs = [variant("fp32", size_bytes=4000), variant("int8", size_bytes=1000), variant("fp16")]
    ms = [
        measurement(n, 7.5).model_copy(update={"method": "predicted", "samples_ms": ()})
        for n in ("fp32", "int8", "fp16")
    ]
    plan = select(vs, ms)
    assert plan.decision == "tie" and "the smaller file" in (plan.decision_note or "")
    assert plan.choices[0].variant_name == "onnx:int8"


def test_a_fallback_45x_slower_than_the_primary_is_no_fallback():
    # The segmenter from the issue: tflite:int16x8 at 1381 ms saved 16% memory against
    # a 31 ms primary; the card detector's at 35.4 ms against 0.73 ms.
    vs = [variant("fp32"), variant("int16x8"), variant("int8")]
    ms = [
        measurement("fp32", 31.0, mem_mb=100.0),
        measurement("int16x8", 1381.0, mem_mb=84.0),
        measurement("int8", 60.0, mem_mb=70.0),  # 1.9x: a usable fallback
    ]
    plan = select(vs, ms)
    assert [c.variant_name for c in plan.choices] == ["onnx:fp32", "onnx:int8"]
    # The factor is the policy's, declared once; a wider one keeps it.
    wide = select(vs, ms, fallback_max_slowdown=50.0)
    assert "onnx:int16x8" in [c.variant_name for c in wide.choices]
    # A latency budget bounds fallbacks instead: within it, the slow one is usable.
    ms_budget = [m.model_copy(update={"p90_ms": m.p50_ms}) for m in ms]
    budget = select(vs, ms_budget, latency_budget_ms=2000.0)
    assert "onnx:int16x8" in [c.variant_name for c in budget.choices]


def test_a_slow_fallback_that_drops_an_accelerator_is_kept():
    # On a phone without the GPU, the CPU variant is the only thing that runs.
    vs = [variant("gpu"), variant("cpu")]
    ms = [measurement("gpu", 1.0, unit="gpu"), measurement("cpu", 20.0)]
    assert [c.variant_name for c in select(vs, ms).choices] == ["onnx:gpu", "onnx:cpu"]
