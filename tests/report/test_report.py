"""edgeops.report: PNGs, per-sample scores, gallery images and the report's parts."""

import json
import struct
import zlib

import numpy as np
import pytest

from edgeops.models import ModelSpec, QualitySpec, ReferenceOutputs
from edgeops.quality import keep_outputs
from edgeops.report.gallery import as_image, mask_diff, mask_image, top_labels
from edgeops.report.html import pareto_front, script_json
from edgeops.report.outputs import score_outputs
from edgeops.report.png import png_bytes

from studio_workspace import PageWatch, keep_screenshot, png_size


def decode_png(data: bytes) -> np.ndarray:
    """Read back an 8-bit RGB PNG of filter-0 scanlines, checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour = header[:4]
    assert (depth, colour) == (8, 2)
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * 3)
    assert not rows[:, 0].any()
    return rows[:, 1:].reshape(height, width, 3)


def test_png_round_trips():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(png_bytes(image)), image)
    with pytest.raises(ValueError):
        png_bytes(np.zeros((4, 4), np.uint8))


def test_nchw_input_becomes_an_image_scaled_by_its_value_range():
    array = np.zeros((1, 3, 4, 6), np.float32)
    array[0, 0] = 1.0  # red channel full
    image = as_image(array, (0.0, 1.0))
    assert image is not None and image.shape == (4, 6, 3)
    assert (image[..., 0] == 255).all() and (image[..., 1:] == 0).all()
    assert as_image(np.zeros((1, 10)), (0.0, 1.0)) is None  # not an image


def test_mask_and_difference_map():
    reference = np.full((1, 1, 4, 4), -5.0, np.float32)  # logits: background
    reference[..., :2, :] = 5.0  # top half foreground
    output = reference.copy()
    output[..., 0, 0] = -5.0  # one missed foreground pixel
    output[..., 3, 3] = 5.0  # one extra
    mask = mask_image(output, like=reference)
    assert mask is not None and (mask[0, 1] == 255).all() and (mask[0, 0] == 0).all()
    diff = mask_diff(reference, output)
    assert diff is not None
    assert tuple(diff[0, 0]) == (40, 110, 240)  # missed: blue
    assert tuple(diff[3, 3]) == (230, 40, 40)  # extra: red
    assert tuple(diff[1, 1]) == (96, 96, 96) and tuple(diff[2, 2]) == (24, 24, 24)


def test_top_labels_softmax_logits_and_keep_probabilities():
    top = top_labels(np.array([[0.0, 3.0, 1.0]]), k=2)
    assert [t.label for t in top] == [1, 2]
    assert top[0].score == pytest.approx(np.exp(3) / np.exp([0, 3, 1]).sum(), abs=1e-6)
    probs = top_labels(np.array([0.1, 0.2, 0.7]), k=3)
    assert [(t.label, t.score) for t in probs] == [(2, 0.7), (1, 0.2), (0, 0.1)]


def _spec(task="segmentation", metric="iou"):
    return ModelSpec(
        name="m",
        source="m.onnx",
        source_sha256="0" * 64,
        task=task,
        quality=QualitySpec(metric=metric, floor=0.5),
    )


def test_scores_rank_the_worst_samples_and_keep_what_the_gallery_needs(tmp_path):
    rng = np.random.default_rng(1)
    refs = [rng.normal(size=(1, 1, 8, 8)).astype(np.float32) for _ in range(6)]
    outs = [r.copy() for r in refs]
    outs[4] = -refs[4]  # every pixel flipped: IoU 0
    outs[2][..., :4, :] = -refs[2][..., :4, :]  # half flipped
    ref_dir, out_dir = tmp_path / "ref", tmp_path / "out"
    ref_path = keep_outputs(ref_dir, [[r] for r in refs])
    keep_outputs(out_dir, [[o] for o in outs])
    reference = ReferenceOutputs(path=ref_path, sha256="x", framework="t", output_names=("y",))
    labels = [(r > 0).astype(np.int64) for r in refs]
    labels[1] = 1 - labels[1]  # the reference itself is wrong on sample 1
    kept = score_outputs("v", _spec(), reference, out_dir, keep=2, worst_k=2, labels=labels)
    assert kept.metric == "iou" and kept.higher_is_better
    assert kept.worst == (4, 2)
    assert kept.per_sample[4] == 0.0 and kept.per_sample[0] == 1.0
    assert set(kept.worst_labels) == {1, 4}  # both miss the labels entirely
    # The first two samples and every worst one are kept, and only those.
    assert kept.kept == (0, 1, 2, 4)
    with np.load(kept.path) as data:
        outputs = sorted(k for k in data.files if not k.startswith("label/"))
        assert outputs == ["0/0", "0/1", "0/2", "0/4"]
        assert np.array_equal(data["0/4"], outs[4])
        # The kept samples' labels travel with them, for the gallery.
        assert sorted(k for k in data.files if k.startswith("label/")) == [
            "label/0",
            "label/1",
            "label/2",
            "label/4",
        ]
        assert np.array_equal(data["label/1"], labels[1])


def test_pareto_front_keeps_points_nothing_beats():
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (0.5, 9.0)]
    assert pareto_front(points) == [(0.5, 9.0), (1.0, 5.0), (2.0, 3.0), (4.0, 1.0)]


def test_script_json_cannot_close_its_script_element():
    text = script_json({"name": "</script><script>alert(1)</script>", "x": "<!--"})
    assert "</script" not in text and "<!--" not in text
    with pytest.raises(ValueError):
        script_json({"x": float("nan")})


def test_report_html_says_how_each_choice_was_decided_and_if_it_can_be_a_baseline(
    edgeops_pm, tmp_path
):
    from edgeops.models import Plan
    from edgeops.report.html import render_report

    from factories import unfit_on_iphonex

    results = unfit_on_iphonex(edgeops_pm)
    tie = Plan(
        profile_id="iphonex", status="supported", method="measured", decision="tie",
        decision_note="kept the previous release, <primary>",
        baseline_note="coreml:w8a8 stopped at 4 rounds (spread 19.0%)",
    )  # fmt: skip
    plain = Plan(profile_id="iphone15pro", status="supported", method="measured")
    page = render_report(results.model_copy(update={"plans": (tie, plain)}), None, tmp_path,
                         inline_js=False)  # fmt: skip
    first, second = page.split('id="profile-')[1:3]
    assert "Decision: <b>tie</b>; kept the previous release, &lt;primary&gt;" in first
    assert "As a gate baseline: coreml:w8a8 stopped at 4 rounds (spread 19.0%)" in first
    assert "Decision:" not in second and "As a gate baseline" not in second


def _tiny_pipeline(tmp_path, pm, workspace, keep, jobs=1):
    from edgeops.devices.profiles import resolve_profiles
    from edgeops.models import MeasureSettings
    from edgeops.pipeline import Pipeline
    from edgeops.pipeline.config import load_spec

    from factories import tiny_onnx

    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    spec = spec.model_copy(update={"recipes": ("fp32", "fp16")})
    host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": ("onnx",)})
    pipeline = Pipeline(pm, workspace, jobs=jobs)
    pipeline.keep_outputs = keep
    settings = MeasureSettings(rounds=1, min_runs=2, min_duration_s=0.0, warmup_runs=0)
    return pipeline, pipeline.optimize(pipeline.convert(spec, [host], settings))


def test_pipeline_keeps_outputs_as_told_and_reuses_them(tmp_path, edgeops_pm, edgeops_workspace):
    from edgeops.pipeline.bundle import write_bundle

    pipeline, results = _tiny_pipeline(tmp_path, edgeops_pm, edgeops_workspace, keep=16)
    assert {o.variant_id for o in results.outputs} == {v.id for v in results.variants}
    count = results.samples.count
    for kept in results.outputs:
        assert kept.kept == tuple(range(count)) and len(kept.per_sample) == count
        assert kept.metric == "snr_db" and kept.path.is_file()  # generic task: SNR ranks
    fp32 = next(o for o in results.outputs if results.variant(o.variant_id).recipe.name == "fp32")
    assert min(fp32.per_sample) > 100  # the fp32 copy matches the reference

    again, reused = _tiny_pipeline(tmp_path, edgeops_pm, edgeops_workspace, keep=16)
    assert again.stats["evaluations_reused"] == 2 and reused.outputs == results.outputs

    fewer_pipeline, fewer = _tiny_pipeline(tmp_path, edgeops_pm, edgeops_workspace, keep=2)
    assert fewer_pipeline.stats["evaluations_reused"] == 0  # another keep: evaluated again
    for kept in fewer.outputs:
        assert set(kept.kept) == {0, 1, *kept.worst} and len(kept.per_sample) == count

    none_pipeline, none = _tiny_pipeline(tmp_path, edgeops_pm, edgeops_workspace, keep=0)
    assert none.outputs == () and none_pipeline.stats["evaluations_reused"] == 2
    assert all(v.quality is not None for v in none.variants)
    selected = none_pipeline.select(none)
    bundle = write_bundle(selected, tmp_path / "bundle")
    assert not (bundle / "gallery").exists()
    assert "No outputs were kept" in (bundle / "report.html").read_text()


def test_a_backend_that_keeps_no_outputs_is_not_asked_again(
    tmp_path, edgeops_pm, edgeops_workspace, register_plugin
):
    from edgeops import hookimpl
    from edgeops.models import Quality

    calls = []

    class NoOutputs:
        """Scores every variant but keeps nothing, as Core ML's host estimate does."""

        @hookimpl
        def edgeops_evaluate(self, variant):
            calls.append(variant.id)
            return Quality(
                metrics={"snr_db": 99.0}, higher_is_better={"snr_db": True}, sample_count=1
            )

    register_plugin(NoOutputs())
    _, first = _tiny_pipeline(tmp_path, edgeops_pm, edgeops_workspace, keep=16)
    assert len(calls) == 2 and first.outputs == ()
    assert all(v.quality.metrics == {"snr_db": 99.0} for v in first.variants)
    again, _ = _tiny_pipeline(tmp_path, edgeops_pm, edgeops_workspace, keep=16)
    assert len(calls) == 2 and again.stats["evaluations_reused"] == 2


def test_worker_processes_keep_outputs_as_told(tmp_path, edgeops_pm, edgeops_workspace):
    _, results = _tiny_pipeline(tmp_path, edgeops_pm, edgeops_workspace, keep=2, jobs=2)
    assert {o.variant_id for o in results.outputs} == {v.id for v in results.variants}
    for kept in results.outputs:
        assert set(kept.kept) == {0, 1, *kept.worst} and kept.path.is_file()


# --------------------------------------------------------------------------- in a real browser


@pytest.mark.slow
def test_report_html_renders_plots_and_gallery_offline(shipped_twice, browser, tmp_path):
    bundle = shipped_twice.bundles[1]
    results = json.loads((bundle / "results.json").read_text())
    # The second version reused every evaluation from the cache, outputs included.
    assert results["cache"]["evaluations_reused"] == len(results["outputs"]) == 4
    for kept in results["outputs"]:
        assert len(kept["per_sample"]) == 16 and len(kept["worst"]) == 3
        assert len(kept["per_sample_labels"]) == 16 and kept["label_metric"] == "iou"
    report = bundle / "report.html"
    assert report.is_file() and (bundle / "report.md").is_file()  # the markdown report stays
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    left_the_file = []

    def only_local(route):
        # Anything but the file itself and inline data is a request leaving the file.
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            left_the_file.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.plot .main-svg').length >= 3")
    plots = page.evaluate(
        """() => Array.from(document.querySelectorAll('.plot')).map(el => ({
            id: el.id,
            traces: (el.data || []).length,
            drawn: el.querySelectorAll('.scatterlayer .point, .boxlayer path.box, .barlayer .point').length,
        }))"""
    )
    assert {p["id"] for p in plots} >= {"fig-0-pareto", "fig-0-latency", "fig-0-memory"}
    for p in plots:
        assert p["traces"] > 0 and p["drawn"] > 0, p  # an empty plot fails
    images = page.evaluate(
        "() => Array.from(document.images).map(i => [i.alt, i.naturalWidth, i.src.slice(0, 22)])"
    )
    assert len(images) >= 4
    for alt, width, src in images:
        assert width > 0 and src == "data:image/png;base64,", alt
    gallery = page.locator(".gallery-variant")
    assert gallery.count() >= 4  # fp32, fp16, int8-dynamic, int8-static
    assert page.locator(".gallery-variant figcaption", has_text="difference").count() > 0
    # The example names its labels: samples are ranked against them and shown beside.
    assert "vs labels" in gallery.first.inner_text()
    assert page.locator(".gallery-variant figcaption", has_text="labels").count() > 0
    assert page.locator("table.plan tr.primary").count() == 1
    assert "onnxruntime" in page.locator("table.environment").inner_text()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert png_size(shot)[1] > 2000  # the whole page, not a blank viewport
    keep_screenshot(shot, "report.png")
    watch.assert_clean()
    assert not left_the_file
    assert all(u.startswith(("file:", "data:")) for u in watch.requests), watch.requests
    context.close()


@pytest.mark.slow
def test_classification_gallery_shows_top_labels_with_scores(tmp_path):
    """MNIST (ONNX, 10 classes): the gallery gives top-5 labels per sample, no masks."""
    from edgeops.report.gallery import read_gallery

    from factories import FAST, run_cli
    from paths import DATA

    model = DATA / "models/onnx/ortexamples__mnist.onnx"
    result = run_cli(
        "ship",
        str(model),
        "--task",
        "classification",
        "--out",
        "b",
        *FAST,
        cwd=tmp_path,
        env={"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    gallery = read_gallery(tmp_path / "b")
    assert gallery is not None and gallery.kind == "labels"
    assert gallery.variants and all(v.metric == "top1_agreement" for v in gallery.variants)
    for variant in gallery.variants:
        for sample in variant.samples:
            assert len(sample.top) == 5 and sample.output is None and sample.diff is None
            scores = [t.score for t in sample.top]
            assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0 + 1e-6
    first = gallery.samples[0]
    assert first.input is not None and len(first.reference_top) == 5  # 28x28 grey, scaled up
    html = (tmp_path / "b" / "report.html").read_text()
    assert "reference top-5" in html


def test_the_difference_map_has_one_scale_for_every_variant() -> None:
    """fp16 (error 1e-4 of the range) must not look as red as int8 (error 5%)."""
    from edgeops.report.gallery import DIFF_FULL_SCALE, image_diff

    reference = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(1, 8, 8, 1)
    fp16 = reference + 1e-4
    int8 = reference + DIFF_FULL_SCALE / 2
    small, half = image_diff(reference, fp16), image_diff(reference, int8)
    assert small is not None and half is not None
    assert small.max() <= 1  # black: 1e-4 is 0.1% of the full scale
    assert abs(int(half[..., 0].max()) - 255) <= 1 and half[..., 1].max() <= 1  # red, not yellow


def test_an_image_gallery_states_its_difference_scale(tmp_path):
    """The legend of the fixed scale, in the report a real image-to-image ship writes."""
    from factories import run_cli, tiny_onnx

    tiny_onnx(tmp_path / "m.onnx")
    done = run_cli(
        "ship", "m.onnx", "--task", "image-to-image", "--out", "b", "--rounds", "1",
        "--min-runs", "3", "--min-duration-s", "0", cwd=tmp_path,
        env={"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "b" / "report.html").read_text()
    assert "one scale for every variant" in report and "5.0%" in report and "10% or more" in report


def test_report_html_names_the_gate_mode_when_the_run_remeasured_its_baseline(tmp_path):
    from test_gate import Primary, lognormal, remeasured, run, session_samples

    from edgeops.report.html import render_report

    base = run({"phone": Primary(lognormal(1, 8.0))}, run_id="base")
    again, slower = session_samples(3, (8.0, 8.8))
    cur = remeasured(base, run({"phone": Primary(slower)}, run_id="cur", id_prefix="new-"), again)
    page = render_report(cur, None, tmp_path, inline_js=False)
    assert "Gate: latency +" in page
    assert "against run base&#39;s primary (paired, same session): FAIL" in page
    # Without a re-measured baseline the run holds no gate: nothing is claimed.
    alone = run({"phone": Primary(slower)}, run_id="cur", id_prefix="new-")
    assert "Gate:" not in render_report(alone, None, tmp_path, inline_js=False)
