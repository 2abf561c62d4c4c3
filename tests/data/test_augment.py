import keras
import numpy as np
import pytest

from keras_unsup.data.augment import NumpyAugmenter, SaltAndPepper


def test_salt_and_pepper_rate_and_values():
    x = np.full((64, 28, 28, 1), 0.5, np.float32)
    y = keras.ops.convert_to_numpy(SaltAndPepper(0.2, seed=1)(x, training=True))
    changed = y != 0.5
    assert abs(changed.mean() - 0.2) < 0.01
    # hit pixels are only black or white, about half each
    assert set(np.unique(y[changed])) <= {0.0, 1.0}
    assert abs((y[changed] == 1.0).mean() - 0.5) < 0.03


def test_salt_and_pepper_hits_all_channels_of_a_pixel():
    x = np.full((8, 16, 16, 3), 0.5, np.float32)
    y = keras.ops.convert_to_numpy(SaltAndPepper(0.3, seed=2)(x, training=True))
    hit = y != 0.5
    assert np.array_equal(hit[..., 0], hit[..., 1]) and np.array_equal(hit[..., 0], hit[..., 2])


def test_salt_and_pepper_identity_at_inference_and_seeded():
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    layer = SaltAndPepper(0.5, seed=3)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    a = keras.ops.convert_to_numpy(SaltAndPepper(0.5, seed=3)(x, training=True))
    b = keras.ops.convert_to_numpy(SaltAndPepper(0.5, seed=3)(x, training=True))
    assert np.array_equal(a, b) and not np.array_equal(a, x)


def test_salt_and_pepper_config_and_bad_amount():
    layer = SaltAndPepper(0.1, seed=4, always=True)
    clone = SaltAndPepper.from_config(layer.get_config())
    assert (clone.amount, clone.seed, clone.always) == (0.1, 4, True)
    with pytest.raises(ValueError, match=r"`amount` must be a number in \[0, 1\]. Received: amount=1.5"):
        SaltAndPepper(1.5)


def test_numpy_augmenter_uint8_round_trip():
    seen = {}

    def invert(batch):
        seen["dtype"] = batch.dtype
        return 255 - batch

    aug = NumpyAugmenter(invert, uint8=True)
    x = np.array([[[[0.0], [1.0]]]], np.float32)
    out = aug(x)
    assert seen["dtype"] == np.uint8
    np.testing.assert_allclose(out, 1.0 - x)


def test_numpy_augmenter_rejects_shape_change_and_non_callables():
    with pytest.raises(ValueError, match="`fn` must be callable"):
        NumpyAugmenter(3)
    with pytest.raises(ValueError, match="same shape|shape it was given"):
        NumpyAugmenter(lambda b: b[:1])(np.zeros((2, 4, 4, 1), np.float32))
