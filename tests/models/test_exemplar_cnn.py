import keras
import numpy as np
import pytest

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.data.pipeline import image_dataset
from keras_unsup.data.views import ContrastiveAugmentation
from keras_unsup.models.exemplar_cnn import ExemplarCNN


def _seeds(n=8):
    rng = np.random.default_rng(0)
    return rng.random((n, 10, 10, 1)).astype("float32")


@pytest.mark.slow
def test_tells_augmented_seeds_apart():
    keras.utils.set_random_seed(0)
    seeds = _seeds(8)
    augment = ContrastiveAugmentation(crop_scale=(0.8, 1.0), rotation=5, translation=0.05,
                                      seed=0)
    model = ExemplarCNN(build_small_convnet((10, 10, 1), 16), n_exemplars=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    repeated = np.repeat(seeds, 8, axis=0)
    ds = image_dataset(repeated, 16, labels=np.repeat(np.arange(8), 8), seed=0,
                       map_fn=lambda x, y: (augment(x), y), parallel_map=False)
    history = model.fit(ds, epochs=12, verbose=0)
    assert history.history["surrogate_accuracy"][-1] > 0.6  # chance: 1/8
    logits = np.asarray(model.surrogate_logits(seeds))
    assert logits.shape == (8, 8) and (logits.argmax(1) == np.arange(8)).mean() >= 0.75


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="`n_exemplars` must be an integer >= 2"):
        ExemplarCNN(build_small_convnet((10, 10, 1), 4), n_exemplars=1)
    model = ExemplarCNN(build_small_convnet((10, 10, 1), 4), n_exemplars=4)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"`\(images, indices\)`"):
        model.fit(_seeds(4), epochs=1, verbose=0, batch_size=4)


@pytest.mark.slow
def test_save_and_load_gives_identical_outputs(tmp_path):
    x = _seeds(8)
    model = ExemplarCNN(build_small_convnet((10, 10, 1), 8), n_exemplars=8, hidden_dim=6)
    model.compile(optimizer="adam")
    model.fit(image_dataset(x, 4, labels=np.arange(8), seed=0), epochs=1, verbose=0)
    model.save(tmp_path / "exemplar.keras")
    loaded = keras.saving.load_model(tmp_path / "exemplar.keras")
    assert isinstance(loaded, ExemplarCNN) and (loaded.n_exemplars, loaded.hidden_dim) == (8, 6)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.surrogate_logits(x)),
                               np.asarray(model.surrogate_logits(x)), atol=1e-5)
