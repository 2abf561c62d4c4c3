import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.data.pipeline import image_dataset
from keras_unsup.models.nat import NAT, best_assignment, random_unit_targets


def _images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 8, 8, 1)).astype("float32")


def test_hungarian_assignment_is_the_brute_force_optimum():
    cost = np.random.default_rng(0).normal(size=(5, 5))
    best = min(itertools.permutations(range(5)), key=lambda p: cost[range(5), p].sum())
    np.testing.assert_array_equal(best_assignment(cost), best)


def test_targets_lie_on_the_unit_sphere():
    t = random_unit_targets(200, 6, seed=0)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-6)
    assert np.abs(t.mean(axis=0)).max() < 0.2  # spread out, not gathered in a corner


def test_reassignment_lowers_the_batch_cost():
    model = NAT(build_small_convnet((8, 8, 1), 6), n_images=16, seed=0)
    x, idx = _images(8), np.arange(8, dtype="int32")
    f = np.asarray(keras.ops.normalize(model.project(x), axis=-1))
    targets = model.targets.numpy()
    new = np.asarray(model._reassigned(f, idx))
    assert sorted(new) == list(range(8))  # the batch trades its own targets
    assert (f * targets[new]).sum() >= (f * targets[idx]).sum() - 1e-5


@pytest.mark.slow
def test_training_keeps_a_permutation_and_fits_the_targets():
    keras.utils.set_random_seed(0)
    x = _images(32)
    model = NAT(build_small_convnet((8, 8, 1), 8), n_images=32, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(image_dataset(x, 16, labels=np.arange(32), seed=0), epochs=8, verbose=0)
    assignment = model.assignment.numpy()
    assert sorted(assignment) == list(range(32)) and (assignment != np.arange(32)).any()
    assert history.history["loss"][-1] < history.history["loss"][0]
    frozen = NAT(build_small_convnet((8, 8, 1), 8), n_images=32, reassign=False, seed=0)
    frozen.compile(optimizer="adam")
    frozen.fit(image_dataset(x, 16, labels=np.arange(32), seed=0), epochs=1, verbose=0)
    np.testing.assert_array_equal(frozen.assignment.numpy(), np.arange(32))


def test_fewer_targets_than_a_batch_are_refused():
    model = NAT(build_small_convnet((8, 8, 1), 4), n_images=4)
    model.compile(optimizer="adam")
    ds = tf.data.Dataset.from_tensor_slices((_images(8), np.arange(8))).batch(8, drop_remainder=True)
    with pytest.raises(ValueError, match="NAT's targets holds 4 entries, one per training image, "
                                         "fewer than a batch"):
        model.fit(ds, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="`n_images` must be an integer >= 2"):
        NAT(build_small_convnet((8, 8, 1), 4), n_images=1)


@pytest.mark.slow
def test_save_and_load_keep_targets_and_assignment(tmp_path):
    x = _images(16)
    model = NAT(build_small_convnet((8, 8, 1), 8), n_images=16, projection_dim=4, seed=3)
    model.compile(optimizer="adam")
    model.fit(image_dataset(x, 8, labels=np.arange(16), seed=0), epochs=1, verbose=0)
    model.save(tmp_path / "nat.keras")
    loaded = keras.saving.load_model(tmp_path / "nat.keras")
    assert isinstance(loaded, NAT) and loaded.projection_dim == 4
    np.testing.assert_array_equal(loaded.assignment.numpy(), model.assignment.numpy())
    np.testing.assert_array_equal(loaded.targets.numpy(), model.targets.numpy())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
