import keras
import numpy as np
import pytest

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.data.colour import rgb_to_lab
from keras_unsup.data.pipeline import image_dataset
from keras_unsup.models.colorization import Colorization


def _two_colour_images(n=64, size=8, seed=0):
    """Half the images dark blue, half light orange, with a little noise: the lightness
    says which colour an image has."""
    rng = np.random.default_rng(seed)
    colours = np.array([[0.1, 0.2, 0.8], [1.0, 0.6, 0.1]], "float32")
    labels = np.arange(n) % 2
    x = colours[labels][:, None, None, :] + rng.normal(0, 0.02, (n, size, size, 3))
    return np.clip(x, 0, 1).astype("float32"), labels


def test_bad_encoders_and_grey_images_are_refused():
    with pytest.raises(ValueError, match=r"`encoder` must take images of shape \(batch, "
                                         r"height, width, 1\)"):
        Colorization(build_small_convnet((8, 8, 3), 4))
    model = Colorization(build_small_convnet((8, 8, 1), 4))
    with pytest.raises(ValueError, match=r"must hold colour images \(3 channels, RGB\). "
                                         r"Received: .* with 1 channel"):
        model(np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match=r"`output_stride` must be an integer in \[1, 8\]"):
        Colorization(build_small_convnet((8, 8, 1), 4), output_stride=9)


def test_class_weights_favour_the_rare_colour():
    x, labels = _two_colour_images()
    rare = np.concatenate([x[labels == 0], x[labels == 1][:4]])  # orange is rare
    model = Colorization(build_small_convnet((8, 8, 1), 4), grid_size=10, rebalancing=0.5)
    np.testing.assert_array_equal(model.class_weights.numpy(), 1.0)  # until measured
    weights = model.set_class_weights(rare)
    ab = np.asarray(rgb_to_lab(x[[0, 1]]))[:, 0, 0, 1:]
    nearest = [int(np.argmin(((model.bin_centres - v) ** 2).sum(1))) for v in ab]
    assert weights[nearest[1]] > 2 * weights[nearest[0]]
    np.testing.assert_allclose(model.class_weights.numpy(), weights)


@pytest.mark.slow
def test_learns_colour_from_lightness():
    keras.utils.set_random_seed(0)
    x, labels = _two_colour_images()
    model = Colorization(build_small_convnet((8, 8, 1), 16), output_stride=8)
    model.set_class_weights(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(image_dataset(x, 16, seed=0), epochs=20, verbose=0)
    assert history.history["bin_accuracy"][-1] > history.history["bin_accuracy"][0]
    assert history.history["loss"][-1] < history.history["loss"][0]
    coloured = np.asarray(model.colourise(x[:2]))  # blue, orange
    assert coloured.shape == (2, 8, 8, 3)
    b_channel = np.asarray(rgb_to_lab(coloured))[..., 2].mean(axis=(1, 2))
    assert b_channel[0] < -20 and b_channel[1] > 20  # blue is b < 0, orange b > 0


@pytest.mark.slow
def test_save_and_load_gives_identical_outputs(tmp_path):
    x, _ = _two_colour_images(16)
    model = Colorization(build_small_convnet((8, 8, 1), 8), grid_size=20, output_stride=2,
                         rebalancing=0.3)
    model.set_class_weights(x)
    model.compile(optimizer="adam")
    model.fit(image_dataset(x, 8, seed=0), epochs=1, verbose=0)
    model.save(tmp_path / "colorization.keras")
    loaded = keras.saving.load_model(tmp_path / "colorization.keras")
    assert isinstance(loaded, Colorization)
    assert (loaded.grid_size, loaded.output_stride, loaded.rebalancing) == (20, 2, 0.3)
    np.testing.assert_array_equal(loaded.class_weights.numpy(), model.class_weights.numpy())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.colourise(x)), np.asarray(model.colourise(x)),
                               atol=1e-5)
