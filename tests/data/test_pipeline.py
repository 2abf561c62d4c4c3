import numpy as np
import pytest

from keras_unsup.data.augment import SaltAndPepper
from keras_unsup.data.pipeline import autoencoder_dataset, image_dataset


def test_image_dataset_visits_every_image_once_per_epoch():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    ds = image_dataset(x, 4, seed=0)
    epoch1 = np.concatenate([b.numpy().ravel() for b in ds])
    epoch2 = np.concatenate([b.numpy().ravel() for b in ds])
    assert sorted(epoch1) == list(range(10)) and sorted(epoch2) == list(range(10))
    assert not np.array_equal(epoch1, epoch2)  # reshuffled
    assert [len(b) for b in ds] == [4, 4, 2]


def test_autoencoder_dataset_noises_inputs_only():
    x = np.full((32, 8, 8, 1), 0.5, np.float32)
    ds = autoencoder_dataset(x, 16, noise=SaltAndPepper(0.25, seed=0, always=True), seed=0)
    noisy, clean = next(iter(ds))
    assert np.all(clean.numpy() == 0.5)
    assert 0.15 < (noisy.numpy() != 0.5).mean() < 0.35


def test_autoencoder_dataset_with_numpy_augmenter():
    x = np.zeros((4, 2, 2, 1), np.float32)
    ds = autoencoder_dataset(x, 4, augmenter=lambda b: b + 1.0, shuffle=False)
    inputs, targets = next(iter(ds))
    assert np.all(inputs.numpy() == 1.0) and np.all(targets.numpy() == 0.0)


def test_pipeline_rejects_bad_images():
    with pytest.raises(ValueError, match=r"`x` must be a batch of images .*Received: x.shape=\(4, 8\)"):
        image_dataset(np.zeros((4, 8)))
    with pytest.raises(ValueError, match="batch_size"):
        image_dataset(np.zeros((4, 2, 2, 1)), 0)


def test_image_dataset_keeps_each_label_with_its_image():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    y = np.arange(10) * 10
    seen = {}
    for images, labels in image_dataset(x, 3, labels=y, seed=0):
        for image, label in zip(images.numpy().reshape(-1), labels.numpy()):
            seen[int(image)] = int(label)
    assert seen == {i: 10 * i for i in range(10)}  # shuffled, each label with its image
    with pytest.raises(ValueError, match=r"`labels` must hold one integer per image \(10\)"):
        image_dataset(x, 3, labels=y[:9])
    with pytest.raises(ValueError, match=r"`batch_size` must be <= the number of images \(10\)"):
        image_dataset(x, 11, drop_remainder=True)
