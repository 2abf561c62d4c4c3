import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.data.pipeline import image_dataset
from keras_unsup.models.npid import NPID


def _images(n=16, size=8, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 1)).astype("float32")


def _constant_encoder(dim=4):
    """An encoder whose embedding is the same vector for every image."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    out = keras.layers.Dense(dim, kernel_initializer="zeros",
                             bias_initializer=keras.initializers.Constant(0.5))(x)
    return keras.Model(inputs, out)


def test_nce_loss_with_indistinguishable_features_is_analytic():
    # Every feature equals every bank entry: P(i|f) = 1/n for all i, so h = 1 / (1 + m) and
    # the NCE loss is log(1 + m) + m log((1 + m) / m) (the proximal term is 0).
    n, m = 50, 7
    model = NPID(_constant_encoder(), memory_size=n, nce_negatives=m, proximal=0.0, seed=0)
    unit = np.full((n, 4), 0.5, "float32")
    model.memory_bank.bank.assign(unit)
    loss, accuracy, _ = model._loss(_images(5), np.arange(5, dtype="int32"), False)
    expected = np.log(1 + m) + m * np.log((1 + m) / m)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
    np.testing.assert_allclose(float(model.nce_constant.numpy()), n * np.exp(1 / 0.07),
                               rtol=1e-4)  # Z estimated from the first batch


def test_exact_softmax_loss_matches_a_reference():
    model = NPID(build_small_convnet((8, 8, 1), 6), memory_size=12, nce_negatives=None,
                 temperature=0.5, proximal=2.0, seed=0)
    x, idx = _images(4), np.array([3, 0, 11, 5], "int32")
    loss, _, f = model._loss(x, idx, False)
    f, bank = np.asarray(f, np.float64), model.memory_bank.bank.numpy().astype(np.float64)
    logits = f @ bank.T / 0.5
    ref = (np.log(np.exp(logits).sum(1)) - logits[np.arange(4), idx]
           + 2.0 * ((f - bank[idx]) ** 2).sum(1)).mean()
    np.testing.assert_allclose(float(loss), ref, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)


def test_training_writes_the_batch_features_into_the_bank():
    x = _images(32)
    model = NPID(build_small_convnet((8, 8, 1), 8), memory_size=32, nce_negatives=None,
                 momentum=0.0, seed=0)
    model.compile(optimizer="adam")
    before = model.memory_bank.bank.numpy().copy()
    model.fit(image_dataset(x[:16], 16, labels=np.arange(16), shuffle=False), epochs=1, verbose=0)
    after = model.memory_bank.bank.numpy()
    np.testing.assert_array_equal(after[16:], before[16:])  # never seen: untouched
    assert not np.allclose(after[:16], before[:16])
    np.testing.assert_allclose(np.linalg.norm(after[:16], axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_learns_to_tell_instances_apart():
    keras.utils.set_random_seed(0)
    x = _images(32)
    model = NPID(build_small_convnet((8, 8, 1), 16), memory_size=32, nce_negatives=None,
                 temperature=0.1, proximal=0.0, momentum=0.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(image_dataset(x, 16, labels=np.arange(32), seed=0), epochs=15, verbose=0)
    assert history.history["instance_accuracy"][-1] > 0.8  # chance: 1/32
    # each image's nearest bank entry is its own
    assert (np.asarray(model.nearest_entries(x, 1))[:, 0] == np.arange(32)).mean() > 0.8


def test_bad_sizes_are_refused():
    encoder = build_small_convnet((8, 8, 1), 4)
    with pytest.raises(ValueError, match=r"`nce_negatives` must be an integer in \[1, 9\]"):
        NPID(encoder, memory_size=10, nce_negatives=10)
    model = NPID(encoder, memory_size=8, nce_negatives=4)
    model.compile(optimizer="adam")
    ds = tf.data.Dataset.from_tensor_slices((_images(16), np.arange(16)))
    with pytest.raises(ValueError, match="NPID's memory bank holds 8 entries, one per training "
                                         "image, fewer than a batch"):
        model.fit(ds.batch(16, drop_remainder=True), epochs=1, verbose=0)
    # a batch of unknown size: the indices beyond the bank are refused in the graph
    model = NPID(encoder, memory_size=8, nce_negatives=4)
    model.compile(optimizer="adam")
    with pytest.raises(tf.errors.InvalidArgumentError, match="every index of a training batch "
                                                             "must be below 8"):
        model.fit(ds.batch(16), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"trains on batches of `\(images, indices\)`"):
        model.fit(tf.data.Dataset.from_tensor_slices(_images(8)).batch(4), epochs=1, verbose=0)


@pytest.mark.slow
def test_save_and_load_keep_the_memory_bank(tmp_path):
    x = _images(16)
    model = NPID(build_small_convnet((8, 8, 1), 8), memory_size=16, nce_negatives=5, seed=0)
    model.compile(optimizer="adam")
    model.fit(image_dataset(x, 8, labels=np.arange(16), seed=0), epochs=1, verbose=0)
    model.save(tmp_path / "npid.keras")
    loaded = keras.saving.load_model(tmp_path / "npid.keras")
    assert isinstance(loaded, NPID) and loaded.nce_negatives == 5
    np.testing.assert_array_equal(loaded.memory_bank.bank.numpy(), model.memory_bank.bank.numpy())
    assert float(loaded.nce_constant.numpy()) == float(model.nce_constant.numpy()) > 0
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
