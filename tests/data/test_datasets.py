import gzip
import pickle

import numpy as np
import pytest

from keras_unsup.data import datasets
from keras_unsup.data.datasets import DatasetNotFoundError, load_dataset


def test_digits_convention():
    ds = load_dataset("digits")
    assert ds.x_train.dtype == np.float32 and ds.x_train.ndim == 4
    assert ds.image_shape == (8, 8, 1)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert ds.x_train.max() == 1.0
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert len(ds.y_train) == len(ds.x_train) and ds.y_train.dtype == np.int64
    assert ds.n_classes == 10
    (x_tr, y_tr), (x_te, y_te) = ds
    assert x_tr is ds.x_train and y_te is ds.y_test
    # the split is stratified and reproducible
    assert np.array_equal(load_dataset("digits").y_test, ds.y_test)
    assert set(np.unique(ds.y_test)) == set(range(10))


def test_subset_draws_without_replacement():
    ds = load_dataset("digits").subset(100, 20, seed=3)
    assert ds.x_train.shape == (100, 8, 8, 1) and ds.x_test.shape == (20, 8, 8, 1)
    assert len(np.unique(ds.x_train.reshape(100, -1), axis=0)) > 95


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_read_from_data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (6, 28, 28))
    x_test = rng.integers(0, 256, (4, 28, 28))
    _write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(6))
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(4))
    monkeypatch.setenv("KERAS_UNSUP_DATA_DIR", str(tmp_path))
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.x_train.shape == (6, 28, 28, 1) and ds.x_test.shape == (4, 28, 28, 1)
    np.testing.assert_allclose(ds.x_train[..., 0], x_train / 255.0, rtol=1e-6)
    assert ds.y_test.tolist() == [0, 1, 2, 3]
    assert ds.class_names[9] == "Ankle boot"


def test_mnist_npz_and_cifar_pickles(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
             y_train=np.arange(5), x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.arange(2))
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = 10000
        batch = {b"data": np.full((n, 3072), 7 if name == "test_batch" else 255, np.uint8),
                 b"labels": [1] * n}
        with open(cifar / name, "wb") as f:
            pickle.dump(batch, f)
    monkeypatch.setenv("KERAS_UNSUP_DATA_DIR", str(tmp_path))
    mnist = load_dataset("mnist", download=False)
    assert mnist.x_train.shape == (5, 28, 28, 1) and mnist.y_train.tolist() == [0, 1, 2, 3, 4]
    c10 = load_dataset("cifar10", download=False)
    assert c10.x_train.shape == (50000, 32, 32, 3) and c10.x_test.shape == (10000, 32, 32, 3)
    assert c10.x_train.max() == 1.0 and np.allclose(c10.x_test, 7 / 255.0)


def test_missing_dataset_names_every_file_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_UNSUP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(datasets, "search_roots", lambda: [tmp_path])

    def no_network(name):
        raise OSError("network unreachable")

    monkeypatch.setattr(datasets, "_download", no_network)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("mnist")
    message = str(err.value)
    assert str(tmp_path / "mnist.npz") in message
    assert "network unreachable" in message and "KERAS_UNSUP_DATA_DIR" in message


def test_unknown_name_is_a_value_error():
    with pytest.raises(ValueError, match=r"`name` must be one of .*Received: name='imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="test_fraction"):
        load_dataset("digits", test_fraction=1.5)


def _save_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_with_class_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        for i in range(5):
            _save_png(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    ds = load_dataset(tmp_path, test_fraction=0.2, seed=0)
    assert ds.image_shape == (12, 10, 3)
    assert len(ds.x_train) == 8 and len(ds.x_test) == 2
    assert ds.class_names == ("cats", "dogs")
    assert sorted(np.concatenate([ds.y_train, ds.y_test]).tolist()) == [0] * 5 + [1] * 5


def test_image_folder_resizes_and_converts(tmp_path):
    _save_png(tmp_path / "a.png", np.zeros((16, 16), np.uint8))
    _save_png(tmp_path / "b.png", np.full((8, 8, 3), 255, np.uint8))
    ds = load_dataset(tmp_path, image_size=(4, 4), color_mode="grayscale")
    assert ds.image_shape == (4, 4, 1) and ds.y_train is None and ds.n_classes is None


def test_empty_folder_and_unreadable_file(tmp_path):
    with pytest.raises(ValueError, match="holds none"):
        load_dataset(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"readable image.*broken\.png"):
        load_dataset(tmp_path)
