"""Accuracy against labels (reference and variants), a user metric, and several floors at once.

The labelled set is real: scikit-learn's bundled handwritten digits (UCI optdigits),
scaled up to the 28 x 28 of the real MNIST model in tests/data.
"""

import numpy as np
import pytest

from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import UsageError
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.quality import compare, meets_floors

from paths import DATA

MNIST = DATA / "models/onnx/ortexamples__mnist.onnx"
COUNT = 24

DIGITS_PY = """
import numpy as np
from sklearn.datasets import load_digits

def _digits(count):
    d = load_digits()
    return d.images[:count], d.target[:count]

def samples(count):
    images, _ = _digits(count)
    # 8 x 8 in 0..16, scaled 3x and padded to MNIST's 28 x 28 in 0..255.
    return [(np.pad(np.kron(i, np.ones((3, 3))), 2) * (255 / 16))[None, None].astype("float32")
            for i in images]

def labels(count):
    return list(_digits(count)[1])
"""

METRIC_PY = """
import numpy as np

def digit_recall(outputs, reference, labels):
    # The user's own metric: hits against the labels, recomputed from raw outputs.
    return float(np.mean([int(np.argmax(o[0])) == int(y) for o, y in zip(outputs, labels)]))
"""


def write_config(tmp_path, quality: str) -> None:
    (tmp_path / "digits.py").write_text(DIGITS_PY)
    (tmp_path / "metrics.py").write_text(METRIC_PY)
    (tmp_path / "edgeops.toml").write_text(
        f'[model]\nsource = "{MNIST}"\ntask = "classification"\nsamples = "digits.py:samples"\n'
        f'labels = "digits.py:labels"\nsample_count = {COUNT}\nrecipes = ["fp32", "int8-dynamic"]\n'
        f"[model.quality]\n{quality}\n"
    )


def evaluated(tmp_path, edgeops_pm, edgeops_workspace):
    spec, _ = load_spec(tmp_path / "edgeops.toml")
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    results = pipeline.convert(spec, [host], MeasureSettings())
    return spec, pipeline.evaluate(pipeline.optimize(results))


def direct_accuracy() -> float:
    """The MNIST model's accuracy on the same digits, run here with onnxruntime alone."""
    import onnxruntime as ort
    from sklearn.datasets import load_digits

    digits = load_digits()
    session = ort.InferenceSession(str(MNIST))
    hits = 0
    for image, target in zip(digits.images[:COUNT], digits.target[:COUNT], strict=True):
        x = (np.pad(np.kron(image, np.ones((3, 3))), 2) * (255 / 16))[None, None]
        hits += int(np.argmax(session.run(None, {"Input3": x.astype(np.float32)})[0]) == target)
    return hits / COUNT


@pytest.mark.slow
def test_labels_give_accuracy_for_the_reference_and_every_variant(
    tmp_path, edgeops_pm, edgeops_workspace
):
    pytest.importorskip("sklearn")
    write_config(
        tmp_path,
        'metric = "metrics.py:digit_recall"\nfloor = 0.5\nfloors = { top1_agreement = 0.9 }',
    )
    spec, results = evaluated(tmp_path, edgeops_pm, edgeops_workspace)
    accuracy = direct_accuracy()
    assert 0.5 < accuracy < 1.0  # a real, imperfect classifier: accuracy is not agreement
    assert results.reference.label_metrics["top1_accuracy"] == pytest.approx(accuracy)
    assert results.reference.label_metrics["digit_recall"] == pytest.approx(accuracy)
    variants = {v.name: v for v in results.variants}
    assert set(variants) == {"onnx:fp32", "onnx:int8-dynamic"}
    for variant in variants.values():
        metrics = variant.quality.metrics
        assert {"top1_accuracy", "digit_recall", "top1_agreement"} <= set(metrics)
        # The user's metric saw the same outputs and labels as edgeops's own.
        assert metrics["digit_recall"] == pytest.approx(metrics["top1_accuracy"])
    assert variants["onnx:fp32"].quality.metrics["top1_accuracy"] == pytest.approx(accuracy)
    assert variants["onnx:fp32"].quality.metrics["top1_agreement"] == 1.0
    assert meets_floors(variants["onnx:fp32"].quality, spec.quality) == (True, [])


def test_every_floor_must_hold_not_only_the_first(tmp_path):
    # (top1_agreement: the task is classification, and a floor must name a metric it computes.)
    write_config(tmp_path, "floors = { top1_agreement = 0.9, snr_db = 20 }")
    spec, _ = load_spec(tmp_path / "edgeops.toml")
    assert (spec.quality.metric, spec.quality.floor) == ("top1_agreement", 0.9)
    assert [(f.metric, f.floor) for f in spec.quality.floors] == [("snr_db", 20.0)]
    # The W8A8 segmenter of the issue (IoU 0.922, SNR 6.5 dB, cosine 0.90), its IoU as top1 here.
    from edgeops.models import Quality

    w8a8 = Quality(
        metrics={"top1_agreement": 0.922, "snr_db": 6.5, "cosine": 0.90},
        higher_is_better={"top1_agreement": True, "snr_db": True, "cosine": True},
        sample_count=16,
    )
    ok, reasons = meets_floors(w8a8, spec.quality)
    assert not ok and reasons == ["snr_db 6.5 < floor 20"]


@pytest.mark.parametrize(
    "quality,message",
    [
        ('floors = { iou = "high" }', "floors must be a table of metric = number"),
        ('metric = "nothere.py:f"\nfloor = 1', "metric file"),
        ('metric = "cosine"', "needs a floor"),
        ('metric = "ssim"', "not computed for task 'classification'"),
    ],
)
def test_bad_quality_settings_name_the_fix(tmp_path, quality, message):
    write_config(tmp_path, quality)
    with pytest.raises(UsageError, match=message):
        load_spec(tmp_path / "edgeops.toml")


def test_segmentation_labels_give_miou_and_classification_top1():
    truth = np.zeros((1, 4, 4), np.int64)
    truth[0, :2] = 1
    logits = np.zeros((1, 2, 4, 4))
    logits[0, 1, :2] = 1.0  # predicts the top half as class 1: exactly the truth
    logits[0, 1, 2, 0] = 1.0  # and one pixel more
    quality = compare("segmentation", [[logits]], [[logits]], labels=[truth])
    # A binary mask scores its foreground (edgeops.quality.iou): 8 of 9 predicted pixels.
    assert quality.metrics["miou_labels"] == pytest.approx(8 / 9, abs=1e-6)
    three = np.zeros((1, 3, 4, 4))
    three[0, 0], three[0, 1, :2], three[0, 2, 3] = 0.5, 1.0, 1.0
    truth3 = truth.copy()
    truth3[0, 3, :2] = 2  # half of the bottom row is class 2, the model says all of it
    quality = compare("segmentation", [[three]], [[three]], labels=[truth3])
    # class 0: 4 of 6; class 1: 8 of 8; class 2: 2 of 4. Mean over the three.
    assert quality.metrics["miou_labels"] == pytest.approx((4 / 6 + 1 + 2 / 4) / 3, abs=1e-6)
    scores = np.array([[0.1, 0.9, 0.0]])
    top1 = compare("classification", [[scores]] * 2, [[scores]] * 2, labels=[1, 2])
    assert top1.metrics["top1_accuracy"] == 0.5 and top1.metrics["top1_agreement"] == 1.0
