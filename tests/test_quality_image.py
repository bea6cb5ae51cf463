"""SSIM and PSNR against scikit-image's, and the check that a reference depends on its input."""

import numpy as np
import pytest

from edgeops.quality import compare, input_dependence, psnr_db, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


def _images(seed: int, shape=(3, 48, 64), noise=0.05):
    rng = np.random.default_rng(seed)
    # A smooth image (a real picture's structure) plus noise, so SSIM is neither 0 nor 1.
    yy, xx = np.mgrid[0 : shape[1], 0 : shape[2]]
    base = np.stack([np.sin(xx / (5 + c)) * np.cos(yy / (7 + c)) for c in range(shape[0])])
    reference = (base + 1.0) / 2.0
    return reference, np.clip(reference + rng.normal(0, noise, shape), 0, 1)


@pytest.mark.parametrize("seed,noise", [(0, 0.02), (1, 0.1), (2, 0.3)])
def test_ssim_matches_scikit_image_gaussian_ssim(seed, noise):
    reference, output = _images(seed, noise=noise)
    expected = skimage_metrics.structural_similarity(
        reference, output, data_range=1.0, channel_axis=0,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    )  # fmt: skip
    assert ssim(reference, output, 1.0) == pytest.approx(expected, abs=1e-9)
    assert 0.0 < expected < 1.0


def test_ssim_of_an_nhwc_batch_scores_each_channel():
    reference, output = _images(3)
    nchw = ssim(reference[None], output[None], 1.0)
    nhwc = ssim(np.moveaxis(reference, 0, -1)[None], np.moveaxis(output, 0, -1)[None], 1.0)
    assert nchw == pytest.approx(nhwc) and ssim(reference, reference, 1.0) == pytest.approx(1.0)


def test_psnr_matches_scikit_image():
    reference, output = _images(4, noise=0.1)
    expected = skimage_metrics.peak_signal_noise_ratio(reference, output, data_range=1.0)
    assert psnr_db(reference, output, 1.0) == pytest.approx(expected, abs=1e-9)


def test_image_to_image_quality_reports_ssim_and_psnr_on_the_reference_range():
    pairs = [_images(seed, noise=0.05) for seed in range(3)]
    reference = [[r[None] * 255.0] for r, _ in pairs]  # a [0, 255] image
    outputs = [[o[None] * 255.0] for _, o in pairs]
    quality = compare("image-to-image", reference, outputs)
    span = max(float(r[0].max()) for r in reference) - min(float(r[0].min()) for r in reference)
    expected = np.mean(
        [
            skimage_metrics.structural_similarity(
                r[0][0],
                o[0][0],
                data_range=span,
                channel_axis=0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )  # fmt: skip
            for r, o in zip(reference, outputs, strict=True)
        ]
    )
    assert quality.metrics["ssim"] == pytest.approx(expected, abs=1e-6)
    assert 20 < quality.metrics["psnr_db"] < 30  # noise sigma 0.05 of the range: ~26 dB
    assert quality.higher_is_better["ssim"] and quality.higher_is_better["psnr_db"]


def test_a_reference_that_ignores_its_input_has_no_input_dependence():
    rng = np.random.default_rng(0)
    # The dead segmenter's outputs: 0.73 everywhere, varying by 4e-9 across inputs.
    dead = [[np.full((1, 1, 8, 8), 0.73) + rng.uniform(0, 4e-9, (1, 1, 8, 8))] for _ in range(4)]
    alive = [[rng.uniform(0, 1, (1, 1, 8, 8))] for _ in range(4)]
    assert input_dependence(dead) < 1e-8
    assert input_dependence(alive) > 0.5
