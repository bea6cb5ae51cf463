"""MACs and parameters of .tflite models, against hand counts and published figures."""

import pytest

from edgeops_tflite.work import count_work

from tflite_testdata import SHARED_MODELS


@pytest.mark.slow
def test_a_small_keras_model_counts_as_by_hand(tmp_path):
    import tensorflow as tf

    inputs = tf.keras.Input((20, 28, 3), batch_size=1)
    # Random biases: the converter would store equal all-zero biases once.
    bias = {"bias_initializer": "random_normal"}
    x = tf.keras.layers.Conv2D(8, 3, padding="same", **bias)(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", **bias)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)  # its axes constant is no parameter
    outputs = tf.keras.layers.Dense(4, **bias)(x)
    model = tf.keras.Model(inputs, outputs)
    path = tmp_path / "m.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    macs, params = count_work(path)
    # conv: 3*3*3 per output, 20*28*8 outputs; depthwise: 3*3 per output, as many; dense: 8 x 4.
    assert macs == 27 * 20 * 28 * 8 + 9 * 20 * 28 * 8 + 8 * 4
    # weights and biases: 8*27 + 8, 9*8 + 8, 8*4 + 4.
    assert params == 224 + 80 + 36


def test_mobilenet_v1_025_128_matches_its_published_size():
    macs, params = count_work(SHARED_MODELS / "tflite/coral__mobilenet_v1_0.25_128_quant.tflite")
    # tensorflow/models research/slim/nets/mobilenet_v1.md: MobileNet_v1_0.25_128,
    # 14 million MACs and 0.47 million parameters.
    assert macs == pytest.approx(14e6, rel=0.05)
    assert params == pytest.approx(0.47e6, rel=0.01)
