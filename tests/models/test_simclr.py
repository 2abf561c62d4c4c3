import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.layers.info_nce import nt_xent_loss
from keras_unsup.models.simclr import SimCLR

SHAPE = (10, 10, 1)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *SHAPE)).astype("float32")
    return x, x + rng.normal(0, 0.05, x.shape).astype("float32")


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"`temperature` must be a number in \(0, inf\). Received: temperature=-1"):
        SimCLR(build_small_convnet(SHAPE, 8), temperature=-1)
    with pytest.raises(ValueError, match="projection_dim"):
        SimCLR(build_small_convnet(SHAPE, 8), projection_dim=0)
    inputs = keras.Input(SHAPE)
    with pytest.raises(ValueError, match="flat vector"):
        SimCLR(keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs)))


def test_train_step_loss_is_nt_xent_and_training_lowers_it():
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = SimCLR(build_small_convnet(SHAPE, 16), projection_dim=8, temperature=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32, drop_remainder=True)
    expected = float(np.mean([
        np.mean(nt_xent_loss(model.project(x[i:i + 32], False), model.project(y[i:i + 32], False),
                             temperature=0.5)) for i in (0, 32)]))
    evaluated = model.evaluate(ds, verbose=0, return_dict=True)
    np.testing.assert_allclose(evaluated["loss"], expected, rtol=1e-4)
    history = model.fit(ds, epochs=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 0.3
    assert history["contrastive_accuracy"][-1] > 0.5
    assert tuple(model.predict(x[:3], verbose=0).shape) == (3, 16)


@pytest.mark.slow
def test_save_and_load_gives_identical_embeddings(tmp_path):
    x, y = _data(16)
    model = SimCLR(build_small_convnet(SHAPE, 8), projection_dim=4, temperature=0.3)
    model.compile(optimizer="adam")
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0)
    model.save(tmp_path / "simclr.keras")
    loaded = keras.saving.load_model(tmp_path / "simclr.keras")
    assert isinstance(loaded, SimCLR) and loaded.temperature == 0.3 and loaded.projection_dim == 4
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.project(x, False)),
                               np.asarray(model.project(x, False)), atol=1e-6)
