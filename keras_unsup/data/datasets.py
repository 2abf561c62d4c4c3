"""Offline-first image datasets.

`load_dataset` returns every dataset in one convention: float32 pixels in [0, 1],
NHWC layout (a channel axis even for grey images), a train and a test split, and
integer labels where the dataset has them (``None`` otherwise).

Local copies are looked for first, in Keras' own file formats, in this order:
``$KERAS_UNSUP_DATA_DIR``, ``~/.keras/datasets`` and ``/usr/share/datasets/<name>``
(Debian's ``dataset-fashion-mnist`` package puts Fashion-MNIST there). Only when no
local copy exists is the ``keras.datasets`` download tried; when that fails too, the
error names every file that was looked for and where to put it.
"""

import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np

from keras_unsup.data.streaming import StreamingMixin, array_stream, check_stream_args

# Files of each dataset in Keras' own formats, relative to a search root.
_KERAS_FILES = {
    "mnist": ["mnist.npz"],
    "fashion_mnist": [
        "train-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ],
    "cifar10": [
        *(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
        "cifar-10-batches-py/test_batch",
    ],
}
# Sub-folders a dataset may sit in under a search root (Keras' own, Debian's, ours).
_SUBDIRS = {
    "mnist": ["", "mnist"],
    "fashion_mnist": ["fashion-mnist", "fashion_mnist", ""],
    "cifar10": ["", "cifar10", "cifar-10"],
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DATASET_NAMES = ("digits", "mnist", "fashion_mnist", "cifar10")

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


@dataclasses.dataclass
class Dataset(StreamingMixin):
    """Images and labels of one dataset, split into train and test.

    Attributes:
        name: the dataset's name (or the folder it was read from).
        x_train: float32 array of shape `(n_train, height, width, channels)` in [0, 1].
        y_train: int64 labels of shape `(n_train,)`, or `None` when there are none.
        x_test: float32 array of shape `(n_test, height, width, channels)` in [0, 1].
        y_test: int64 labels of shape `(n_test,)`, or `None`.
        class_names: names of the label values where they are known.

    Unpacks like `keras.datasets`: `(x_train, y_train), (x_test, y_test) = ds`. Reads
    batch by batch like a `FolderDataset` (`train_stream`, `encode`, ...; see
    `keras_unsup.data.streaming`), so one recipe serves both.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    class_names: tuple | None = None

    def __iter__(self):
        yield (self.x_train, self.y_train)
        yield (self.x_test, self.y_test)

    @property
    def image_shape(self):
        """Shape of one image, `(height, width, channels)`."""
        return tuple(self.x_train.shape[1:])

    is_streaming = False

    @property
    def n_train(self):
        """Number of train images."""
        return len(self.x_train)

    @property
    def n_test(self):
        """Number of test images."""
        return len(self.x_test)

    @property
    def x_all(self):
        """Train and test images concatenated (clustering uses all of them)."""
        return np.concatenate([self.x_train, self.x_test])

    def stream(self, split="train", batch_size=256, *, shuffle=False, seed=None, labels=False,
               drop_remainder=False, repeat=False, map_fn=None):
        """Batches of `split` as a `tf.data.Dataset` (see `FolderDataset.stream`)."""
        split, batch_size, seed = check_stream_args(self, split, batch_size, seed, labels)
        x = {"train": self.x_train, "test": self.x_test}.get(split)
        x = self.x_all if x is None else x
        return array_stream(x, self.labels(split), batch_size, shuffle=shuffle, seed=seed,
                            labels=labels, drop_remainder=drop_remainder, repeat=repeat,
                            map_fn=map_fn)

    def subset(self, n_train=None, n_test=None, seed=0):
        """A smaller copy: `n_train` and `n_test` images drawn without replacement."""
        rng = np.random.default_rng(seed)

        def take(x, y, n):
            if n is None or n >= len(x):
                return x, y
            idx = np.sort(rng.choice(len(x), size=n, replace=False))
            return x[idx], (None if y is None else y[idx])

        x_train, y_train = take(self.x_train, self.y_train, n_train)
        x_test, y_test = take(self.x_test, self.y_test, n_test)
        return Dataset(self.name, x_train, y_train, x_test, y_test, self.class_names)


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither on disk nor downloadable."""


def search_roots():
    """Folders searched for local copies, in order of preference."""
    roots = []
    env = os.environ.get("KERAS_UNSUP_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets")
    roots.append(Path("/usr/share/datasets"))
    return roots


def _find_local(name):
    """The folder holding all of `name`'s files, and every path that was tried."""
    tried = []
    for root in search_roots():
        for sub in _SUBDIRS[name]:
            folder = root / sub if sub else root
            paths = [folder / f for f in _KERAS_FILES[name]]
            tried.extend(paths)
            if all(p.is_file() for p in paths):
                return folder, tried
    return None, tried


def _read_idx(path):
    """Reads a gzipped IDX file (the MNIST family's format)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _load_keras_files(name, folder):
    if name == "mnist":
        with np.load(folder / "mnist.npz", allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    if name == "fashion_mnist":
        files = [folder / f for f in _KERAS_FILES[name]]
        y_train, x_train, y_test, x_test = (_read_idx(p) for p in files)
        return (x_train, y_train), (x_test, y_test)
    # cifar10: python pickles of dicts with b"data" (N x 3072, CHW) and b"labels",
    # read with the restricted unpickler: a data file must not be able to run code.
    from keras_unsup.data.safe_pickle import load_restricted

    xs, ys = [], []
    for rel in _KERAS_FILES[name]:
        batch = load_restricted(folder / rel)
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise ValueError(
                f"A CIFAR-10 batch must be a dict with the keys b'data' and b'labels'. "
                f"Received: '{folder / rel}', which holds a {type(batch).__name__}"
                + (f" with the keys {sorted(batch)}" if isinstance(batch, dict) else "")
            )
        xs.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"]))
    x = np.concatenate(xs).transpose(0, 2, 3, 1)
    y = np.concatenate(ys)
    return (x[:50000], y[:50000]), (x[50000:], y[50000:])


def _download(name):
    import keras  # deferred: importing keras starts TensorFlow

    module = getattr(keras.datasets, name)
    return module.load_data()


def _to_float_nhwc(x):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    return (x.astype(np.float32) / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)


def _labels(y):
    return None if y is None else np.asarray(y).reshape(-1).astype(np.int64)


def _load_digits(test_fraction, seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset("digits", x_train, y_train, x_test, y_test, tuple(str(i) for i in range(10)))


def load_dataset(name="digits", *, download=True, test_fraction=0.2, image_size=None,
                 color_mode=None, seed=0, stream=None, cache=None):
    """Loads a dataset as float32 NHWC images in [0, 1], split into train and test.

    The named datasets are read into memory (a `Dataset`). A folder is streamed (a
    `FolderDataset`: images decoded in parallel in tf.data, batch by batch, never held
    whole) when it would take more than `folder.STREAM_THRESHOLD_BYTES` (512 MiB)
    decoded as float32, or when `stream=True` or a `cache` is given; otherwise it is
    read into memory. Both share one batch-by-batch surface (`train_stream`, `encode`,
    `labels`; see `keras_unsup.data.streaming`).

    Args:
        name: one of `"digits"` (scikit-learn's 8x8 digits, always available offline),
            `"mnist"`, `"fashion_mnist"`, `"cifar10"`, or the path of a folder of
            images. In a folder, images in sub-folders take the sub-folder's name as
            their label; images directly in the folder are unlabelled.
        download: whether to try `keras.datasets` when no local copy is found.
        test_fraction: share of the images held out as the test split, for `digits`
            and folders (the other datasets come with their own split).
        image_size: `(height, width)` to resize folder images to; by default the size
            of the first image.
        color_mode: `"grayscale"` or `"rgb"` for folder images; by default the mode
            of the first image.
        seed: seed of the train/test split for `digits` and folders.
        stream: for folders: `None` streams large folders only, `True` always,
            `False` never (everything decoded into memory).
        cache: for folders: a folder for an on-disk cache of the decoded images
            (implies streaming); see `FolderDataset`.

    Returns:
        A `Dataset` (`(x_train, y_train), (x_test, y_test) = load_dataset(...)` works),
        or a `FolderDataset` for a streamed folder.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_dataset("digits")
    >>> x_train.shape[1:], x_train.dtype
    ((8, 8, 1), dtype('float32'))
    """
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(
            f"`name` must be a dataset name {DATASET_NAMES} or a folder path. "
            f"Received: name={name!r}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1). Received: test_fraction={test_fraction}")
    key = str(name).lower().replace("-", "_")
    if key == "digits":
        return _load_digits(test_fraction, seed)
    if key in _KERAS_FILES:
        return _load_named(key, download)
    path = Path(name).expanduser()
    if path.is_dir():
        from keras_unsup.data.folder import open_image_folder

        return open_image_folder(name, stream=stream, cache=cache, test_fraction=test_fraction,
                                 image_size=image_size, color_mode=color_mode, seed=seed)
    raise ValueError(
        f"`name` must be one of {DATASET_NAMES} or an existing folder of images. "
        f"Received: name={name!r}"
    )


def _load_named(key, download):
    folder, tried = _find_local(key)
    if folder is not None:
        (x_train, y_train), (x_test, y_test) = _load_keras_files(key, folder)
    else:
        failure = "download disabled (download=False)"
        loaded = None
        if download:
            try:
                loaded = _download(key)
            except Exception as e:  # any network or file error means: not available
                failure = f"download failed: {type(e).__name__}: {e}"
        if loaded is None:
            listing = "\n  ".join(str(p) for p in tried)
            raise DatasetNotFoundError(
                f"Dataset {key!r} was not found locally and could not be downloaded "
                f"({failure}).\nLooked for:\n  {listing}\n"
                f"Put the files {_KERAS_FILES[key]} into $KERAS_UNSUP_DATA_DIR "
                f"(or ~/.keras/datasets/{_SUBDIRS[key][0]}), in Keras' own format."
            )
        (x_train, y_train), (x_test, y_test) = loaded
    names = {"fashion_mnist": FASHION_MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}.get(
        key, tuple(str(i) for i in range(10))
    )
    return Dataset(key, _to_float_nhwc(x_train), _labels(y_train), _to_float_nhwc(x_test),
                   _labels(y_test), names)
