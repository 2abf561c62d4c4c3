import keras
import numpy as np
import pytest

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.data.colour import lab_to_rgb
from keras_unsup.data.pipeline import image_dataset
from keras_unsup.models.split_brain import SplitBrain


def _model(size=8, **kwargs):
    return SplitBrain(build_small_convnet((size, size, 1), 6),
                      build_small_convnet((size, size, 2), 5), **kwargs)


def _lab_images(lab_values):
    """Flat 8x8 sRGB images of the given Lab colours."""
    lab = np.asarray(lab_values, "float32")[:, None, None, :] * np.ones((1, 8, 8, 1), "float32")
    return np.asarray(lab_to_rgb(lab))


def test_each_half_sees_only_its_own_channels():
    model = _model()
    # Same lightness, other colours; then same colours, other lightness.
    x = _lab_images([[50, 20, 0], [50, -20, 15], [70, 20, 0]])
    embeddings = np.asarray(model(x))
    assert embeddings.shape == (3, 11)  # 6 of the L half, 5 of the ab half
    l_half, ab_half = embeddings[:, :6], embeddings[:, 6:]
    np.testing.assert_allclose(l_half[0], l_half[1], atol=1e-3)
    assert not np.allclose(ab_half[0], ab_half[1], atol=1e-3)
    np.testing.assert_allclose(ab_half[0], ab_half[2], atol=2e-2)  # ab kept, to rounding
    assert not np.allclose(l_half[0], l_half[2], atol=1e-3)


def test_bad_halves_are_refused():
    with pytest.raises(ValueError, match="must take images of one size"):
        SplitBrain(build_small_convnet((8, 8, 1), 4), build_small_convnet((10, 10, 2), 4))
    with pytest.raises(ValueError, match=r"`ab_encoder` must take images of shape "
                                         r"\(batch, height, width, 2\)"):
        SplitBrain(build_small_convnet((8, 8, 1), 4), build_small_convnet((8, 8, 3), 4))
    with pytest.raises(ValueError, match="`l_bins` must be an integer >= 2"):
        _model(l_bins=1)
    with pytest.raises(ValueError, match="with 1 channel"):
        _model()(np.zeros((1, 8, 8, 1), "float32"))


@pytest.mark.slow
def test_trains_and_saves_with_identical_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((32, 8, 8, 3)).astype("float32")
    model = _model(l_bins=10, grid_size=20, output_stride=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(image_dataset(x, 16, seed=0), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "split_brain.keras")
    loaded = keras.saving.load_model(tmp_path / "split_brain.keras")
    assert isinstance(loaded, SplitBrain) and (loaded.l_bins, loaded.grid_size) == (10, 20)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
