import numpy as np
import pytest

from keras_unsup.data import folder as folder_module
from keras_unsup.data.datasets import Dataset, load_dataset
from keras_unsup.data.folder import FolderDataset


def _save_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def classes_folder(tmp_path):
    """Three classes of 12x10 grey PNGs whose pixels encode class and index."""
    root = tmp_path / "images"
    for c, cls in enumerate(("ant", "bee", "cat")):
        for i in range(6):
            _save_png(root / cls / f"{i:02d}.png", np.full((12, 10), 40 * c + i, np.uint8))
    return root


def _all(ds):
    batches = list(ds.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches))
    return np.concatenate(batches)


def test_stream_shapes_dtype_range_and_labels(classes_folder):
    data = FolderDataset(classes_folder, test_fraction=1 / 3, seed=0)
    assert data.is_streaming and data.image_shape == (12, 10, 1)
    assert (data.n_train, data.n_test, data.n_classes) == (12, 6, 3)
    assert data.class_names == ("ant", "bee", "cat")
    images, labels = _all(data.train_stream(5, seed=0, labels=True))
    assert images.shape == (12, 12, 10, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    # each image's pixel value says which sub-folder it came from
    assert np.array_equal((np.round(images[:, 0, 0, 0] * 255) // 40).astype(int), labels)
    assert sorted(labels.tolist()) == sorted(data.y_train.tolist())
    # unshuffled, the stream follows files_train and y_train
    unshuffled, in_order = _all(data.stream("train", 4, labels=True))
    assert np.array_equal(in_order, data.y_train)
    assert data.files_train[0].endswith(f"{data.class_names[in_order[0]]}/"
                                        f"{round(unshuffled[0, 0, 0, 0] * 255) % 40:02d}.png")


def test_stream_matches_the_in_memory_reader(classes_folder):
    streamed = load_dataset(classes_folder, stream=True, seed=3)
    in_memory = load_dataset(classes_folder, stream=False, seed=3)
    assert isinstance(streamed, FolderDataset) and isinstance(in_memory, Dataset)
    np.testing.assert_array_equal(streamed.y_test, in_memory.y_test)
    np.testing.assert_array_equal(_all(streamed.test_stream(4)), in_memory.x_test)
    np.testing.assert_array_equal(streamed.x_train, in_memory.x_train)
    # the in-memory Dataset offers the same surface
    x, y = _all(in_memory.train_stream(4, seed=1, labels=True))
    assert x.shape == in_memory.x_train.shape and sorted(y) == sorted(in_memory.y_train)


def test_seeded_order_is_reproducible(classes_folder):
    data = FolderDataset(classes_folder)
    first = _all(data.train_stream(3, seed=7))
    again = _all(FolderDataset(classes_folder).train_stream(3, seed=7))
    other = _all(data.train_stream(3, seed=8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert sorted(first.ravel().tolist()) == sorted(other.ravel().tolist())


def test_resize_and_colour_mode(tmp_path):
    _save_png(tmp_path / "a.png", np.zeros((16, 16), np.uint8))
    _save_png(tmp_path / "b.png", np.full((8, 8, 3), 255, np.uint8))
    _save_png(tmp_path / "c.jpg", np.full((20, 30, 3), 255, np.uint8))
    data = FolderDataset(tmp_path, image_size=(4, 6), color_mode="rgb", test_fraction=0.34)
    assert data.image_shape == (4, 6, 3) and data.y_train is None and data.n_classes is None
    images = _all(data.stream("all", 2))
    assert images.shape == (3, 4, 6, 3)
    by_file = dict(zip(data.files("all"), images))
    assert np.all(by_file[str(tmp_path / "a.png")] == 0.0)
    assert np.all(by_file[str(tmp_path / "b.png")] == 1.0)
    assert np.all(np.abs(by_file[str(tmp_path / "c.jpg")] - 1.0) < 0.02)
    # without image_size, the first file's size and mode; other sizes are resized to it
    default = FolderDataset(tmp_path)
    assert default.image_shape == (16, 16, 1)
    assert _all(default.stream("all", 8)).shape == (3, 16, 16, 1)


def test_cache_is_written_and_read(classes_folder, tmp_path):
    cache = tmp_path / "cache"
    data = FolderDataset(classes_folder, cache=cache)
    first = _all(data.stream("train", 4))
    assert any(p.name.startswith("train-") and p.suffix == ".index" for p in cache.iterdir())
    for path in data.files_train:  # the cache, not the files, answers from now on
        _save_png(__import__("pathlib").Path(path), np.zeros((12, 10), np.uint8))
    np.testing.assert_array_equal(_all(data.stream("train", 4)), first)
    shuffled = _all(data.train_stream(4, seed=0))
    assert not np.array_equal(shuffled, first)
    assert sorted(shuffled.ravel().tolist()) == sorted(first.ravel().tolist())
    # a fresh dataset without the cache sees the new files
    assert _all(FolderDataset(classes_folder).stream("train", 4)).max() == 0.0


def test_training_and_encoding_from_the_stream(classes_folder):
    import keras

    from keras_unsup.builders.autoencoder import build_dense_autoencoder

    data = FolderDataset(classes_folder)
    autoencoder, encoder, _ = build_dense_autoencoder(data.image_shape, code_size=2,
                                                      hidden_units=(8,))
    autoencoder.compile(optimizer="adam", loss="mse")
    history = autoencoder.fit(data.train_stream(4, seed=0, map_fn=lambda x: (x, x)),
                              epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    codes = data.encode(encoder, "all", batch_size=5)
    assert codes.shape == (data.n_train + data.n_test, 2)
    np.testing.assert_allclose(codes, encoder.predict(data.x_all, verbose=0), rtol=1e-5,
                               atol=1e-6)
    assert isinstance(encoder, keras.Model) and data.labels("all").shape == (18,)
    # a callable that is not a Keras model is called batch by batch
    means = data.encode(lambda x: x.mean(axis=(1, 2, 3)), "test")
    np.testing.assert_allclose(means, data.x_test.mean(axis=(1, 2, 3)), rtol=1e-6)


def test_subset_and_threshold(classes_folder, monkeypatch):
    data = FolderDataset(classes_folder)
    small = data.subset(5, 2, seed=0)
    assert (small.n_train, small.n_test) == (5, 2) and set(small.files_train) <= set(data.files_train)
    index = {f: y for f, y in zip(data.files_train, data.y_train)}
    assert [index[f] for f in small.files_train] == small.y_train.tolist()
    assert isinstance(load_dataset(classes_folder), Dataset)  # small: in memory
    monkeypatch.setattr(folder_module, "STREAM_THRESHOLD_BYTES", 100)
    big = load_dataset(classes_folder)
    assert isinstance(big, FolderDataset)
    with pytest.raises(MemoryError, match=r"train_stream"):
        big.x_train  # noqa: B018 (the property read is what raises)


def test_bad_input_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"`folder` must be an existing folder.*does not exist"):
        FolderDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"`folder` must be a folder containing images.*holds none"):
        FolderDataset(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"`folder` .*Received: folder='.*', which holds none"):
        FolderDataset(tmp_path)
    with pytest.raises(ValueError, match=r"`name` .*Received: name='.*', which holds none"):
        load_dataset(tmp_path, stream=True)
    _save_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"`image_size` must be a pair.*image_size=\(4,\)"):
        FolderDataset(tmp_path, image_size=(4,))
    with pytest.raises(ValueError, match="`color_mode` must be one of"):
        FolderDataset(tmp_path, color_mode="cmyk")
    with pytest.raises(ValueError, match="`stream` must be True or False"):
        load_dataset(tmp_path, stream="yes")
    data = FolderDataset(tmp_path)
    with pytest.raises(ValueError, match=r"`batch_size` must be an integer >= 1.*batch_size=0"):
        data.train_stream(0)
    with pytest.raises(ValueError, match=r"`split` must be one of"):
        data.stream("validation")
    with pytest.raises(ValueError, match=r"`labels=True` needs a labelled dataset"):
        data.stream("train", labels=True)
