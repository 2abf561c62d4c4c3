import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.models.rotnet import RotNet, rotations


def test_rotations_match_numpy_rot90():
    x = np.random.default_rng(0).random((3, 5, 5, 2)).astype("float32")
    rotated, labels = rotations(x)
    rotated = np.asarray(rotated)
    assert rotated.shape == (12, 5, 5, 2)
    np.testing.assert_array_equal(np.asarray(labels), np.repeat(np.arange(4), 3))
    for k in range(4):
        np.testing.assert_array_equal(rotated[3 * k:3 * k + 3], np.rot90(x, k, axes=(1, 2)))


def test_rejects_non_square_or_non_flat_encoders():
    with pytest.raises(ValueError, match=r"square images.*Received: input shape \(None, 10, 12, 1\)"):
        RotNet(build_small_convnet((10, 12, 1), 8))
    inputs = keras.Input((10, 10, 1))
    with pytest.raises(ValueError, match="flat vector"):
        RotNet(keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs)))


def test_learns_to_tell_rotations_apart():
    keras.utils.set_random_seed(0)
    # An asymmetric shape (an L) at random places: rotation is visible.
    rng = np.random.default_rng(0)
    x = np.zeros((64, 10, 10, 1), "float32")
    for i in range(64):
        r, c = rng.integers(1, 4, size=2)
        x[i, r:r + 6, c, 0] = 1.0
        x[i, r + 5, c:c + 4, 0] = 1.0
    model = RotNet(build_small_convnet((10, 10, 1), 16))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    history = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(32), epochs=10, verbose=0)
    assert history.history["rotation_accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert tuple(model.predict_rotation_logits(x[:2]).shape) == (2, 4)


@pytest.mark.slow
def test_save_and_load_gives_identical_embeddings(tmp_path):
    x = np.random.default_rng(0).random((8, 10, 10, 1)).astype("float32")
    model = RotNet(build_small_convnet((10, 10, 1), 8), hidden_dim=6)
    model.compile(optimizer="adam")
    model.fit(tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0)
    model.save(tmp_path / "rotnet.keras")
    loaded = keras.saving.load_model(tmp_path / "rotnet.keras")
    assert isinstance(loaded, RotNet) and loaded.hidden_dim == 6
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.predict_rotation_logits(x)),
                               np.asarray(model.predict_rotation_logits(x)), atol=1e-6)
