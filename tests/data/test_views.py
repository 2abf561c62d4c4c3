import keras
import numpy as np
import pytest

from keras_unsup.data.views import (
    ContrastiveAugmentation,
    RandomAffine,
    RandomBrightnessContrast,
    RandomGaussianNoise,
    RandomResizedCrop,
    default_augmentation,
    two_view_dataset,
)

LAYERS = [
    lambda: RandomResizedCrop(scale=(0.3, 1.0), seed=1),
    lambda: RandomAffine(rotation=20, translation=0.2, horizontal_flip=True, seed=1),
    lambda: RandomBrightnessContrast(0.3, 0.3, seed=1),
    lambda: RandomGaussianNoise(0.1, seed=1),
    lambda: ContrastiveAugmentation(horizontal_flip=True, seed=1),
]


def _images(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("shape", [(4, 28, 28, 1), (3, 9, 13, 3)])
def test_layers_keep_shape_range_and_change_images(make, shape):
    x = _images(shape)
    layer = make()
    y = np.asarray(layer(x))
    assert y.shape == x.shape
    assert y.min() >= 0.0 and y.max() <= 1.0 + 1e-6
    assert np.abs(y - x).mean() > 1e-3  # it augments
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    # Config round trip: same class, same settings, same views from the same seed.
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(make()(x)), atol=1e-6)


def test_seeded_layers_repeat_and_seeds_differ():
    x = _images((4, 16, 16, 1))
    a = np.asarray(ContrastiveAugmentation(seed=3)(x))
    b = np.asarray(ContrastiveAugmentation(seed=3)(x))
    c = np.asarray(ContrastiveAugmentation(seed=4)(x))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 1e-3
    layer = ContrastiveAugmentation(seed=3)
    assert np.abs(np.asarray(layer(x)) - np.asarray(layer(x))).mean() > 1e-3  # state advances


def test_geometric_layers_with_zero_strength_are_identity():
    x = _images((3, 10, 12, 3))
    np.testing.assert_allclose(np.asarray(RandomAffine(0.0, 0.0, seed=0)(x)), x, atol=1e-6)
    crop = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)
    np.testing.assert_allclose(np.asarray(crop(x)), x, atol=1e-6)


def test_flip_mirrors_about_half_the_images():
    x = _images((200, 6, 6, 1))
    y = np.asarray(RandomAffine(0.0, 0.0, horizontal_flip=True, seed=0)(x))
    same = np.array([np.allclose(y[i], x[i], atol=1e-6) for i in range(len(x))])
    mirrored = np.array([np.allclose(y[i], x[i, :, ::-1], atol=1e-6) for i in range(len(x))])
    assert np.all(same | mirrored)
    assert 0.35 < mirrored.mean() < 0.65


def test_rotation_by_small_angle_keeps_centre_pixel():
    x = np.zeros((8, 9, 9, 1), "float32")
    x[:, 4, 4, 0] = 1.0
    y = np.asarray(RandomAffine(rotation=30, translation=0.0, seed=0)(x))
    np.testing.assert_allclose(y[:, 4, 4, 0], 1.0, atol=1e-5)


def test_brightness_contrast_statistics():
    x = np.full((400, 4, 4, 1), 0.5, "float32")
    y = np.asarray(RandomBrightnessContrast(brightness=0.2, contrast=0.0, seed=0)(x))
    shifts = y[:, 0, 0, 0] - 0.5
    assert np.all(np.abs(shifts) <= 0.2 + 1e-6)
    assert abs(shifts.mean()) < 0.03 and shifts.std() > 0.08  # uniform in [-0.2, 0.2]
    assert np.allclose(y, y[:, :1, :1, :])  # one shift per image


def test_noise_deviation():
    y = np.asarray(RandomGaussianNoise(0.05, seed=0)(np.full((8, 16, 16, 1), 0.5, "float32")))
    assert abs((y - 0.5).std() - 0.05) < 0.005


@pytest.mark.parametrize("kwargs, match", [
    ({"scale": (0.0, 1.0)}, "scale"),
    ({"scale": (0.8, 0.5)}, "scale"),
    ({"ratio": (2.0, 1.0)}, "ratio"),
])
def test_crop_rejects_bad_intervals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomResizedCrop(**kwargs)


def test_other_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"`rotation` must be .* Received: rotation=200"):
        RandomAffine(rotation=200)
    with pytest.raises(ValueError, match="translation"):
        RandomAffine(translation=-0.1)
    with pytest.raises(ValueError, match="contrast"):
        RandomBrightnessContrast(contrast=2.0)
    with pytest.raises(ValueError, match="stddev"):
        RandomGaussianNoise(stddev=-1)
    with pytest.raises(ValueError, match="batch of images"):
        RandomGaussianNoise(0.1)(np.zeros((4, 4), "float32"))


def test_default_augmentation_does_not_depend_on_the_data_and_flips_on_request():
    assert not default_augmentation().affine.horizontal_flip
    assert default_augmentation(horizontal_flip=True).affine.horizontal_flip
    with pytest.raises(TypeError):
        default_augmentation("fashion_mnist", 0, 1)


def test_two_view_dataset_pairs_views_of_same_images_and_repeats():
    x = np.zeros((40, 8, 8, 1), "float32")
    for i in range(40):  # each image's brightness encodes its index
        x[i] = i / 40.0
    plain = ContrastiveAugmentation(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), rotation=0.0,
                                    translation=0.0, brightness=0.0, contrast=0.0, noise=0.0)
    batches = list(two_view_dataset(x, 16, augmentation=plain, seed=0))
    assert len(batches) == 2  # the last, smaller batch is dropped
    v1, v2 = (np.asarray(t) for t in batches[0])
    assert v1.shape == (16, 8, 8, 1)
    np.testing.assert_allclose(v1, v2)
    assert len(np.unique(np.round(v1[:, 0, 0, 0] * 40))) == 16

    def views(seed):
        ds = two_view_dataset(x, 16, augmentation=ContrastiveAugmentation(seed=seed), seed=seed)
        return [np.asarray(t) for pair in ds for t in pair]

    first, again = views(1), views(1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert np.abs(first[0] - first[1]).mean() > 1e-3  # the two views differ


def test_two_view_dataset_accepts_a_plain_callable_and_checks_arguments():
    x = np.ones((8, 6, 6, 3), "float32")
    ((a, _),) = list(two_view_dataset(x, 8, augmentation=lambda t: t * 0.5, shuffle=False))
    np.testing.assert_allclose(np.asarray(a), 0.5)
    with pytest.raises(ValueError, match="batch_size"):
        two_view_dataset(x, 0)
    with pytest.raises(ValueError, match="batch_size"):
        two_view_dataset(x, 9)
    with pytest.raises(ValueError, match="augmentation"):
        two_view_dataset(x, 4, augmentation=3)


def test_augmentation_inside_a_saved_model(tmp_path):
    inputs = keras.Input((10, 10, 3))
    model = keras.Model(inputs, ContrastiveAugmentation(seed=0)(inputs))
    model.save(tmp_path / "aug.keras")
    loaded = keras.saving.load_model(tmp_path / "aug.keras")
    assert isinstance(loaded.layers[1], ContrastiveAugmentation)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
