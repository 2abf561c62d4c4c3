"""A folder of the user's own images, read into memory or streamed.

Images in sub-folders are labelled by sub-folder (sorted names map to 0, 1, ...); when
any image sits directly in the folder, the dataset is unlabelled. The train/test split
is a seeded permutation of the sorted file list, the same for both readers:

- `load_image_folder` decodes every image into a `Dataset` of float32 arrays. It suits
  small folders; its memory grows with the folder (4 bytes per pixel and channel).
- `FolderDataset` lists the files and decodes one header for the image shape; the
  images themselves are decoded and resized in parallel inside `tf.data` each time a
  stream is read (or once, with `cache=folder`, into an on-disk cache of uint8 images).
  Its memory stays that of a few batches, however large the folder. Labels and file
  names, which are small, are held.

`load_dataset(folder)` streams when the folder decoded as float32 would exceed
`STREAM_THRESHOLD_BYTES` (`stream=None`), or as `stream=True`/`False` asks. Both kinds
share the batch-by-batch surface of `keras_unsup.data.streaming`.

Example:

>>> data = FolderDataset("photos/", image_size=(64, 64), cache="/tmp/photos-cache")
>>> data.image_shape, data.n_train, data.class_names
((64, 64, 3), 80000, ('cats', 'dogs'))
>>> model.fit(data.train_stream(256, seed=0, map_fn=lambda x: (x, x)), epochs=1)
>>> codes = data.encode(encoder, "test")
"""

import hashlib
import os
from functools import cached_property
from pathlib import Path

import numpy as np

from keras_unsup import checks
from keras_unsup.data.datasets import IMAGE_EXTENSIONS, Dataset
from keras_unsup.data.streaming import StreamingMixin, check_stream_args

# A folder larger than this, decoded as float32, streams under load_dataset(stream=None).
STREAM_THRESHOLD_BYTES = 512 * 2**20
# Formats tf.io.decode_image reads; other extensions are decoded with PIL, in tf.data.
_TF_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_GREY_MODES = ("L", "1", "I", "I;16", "F")
# Bytes of decoded images the shuffle buffer of a cached stream may hold.
_CACHED_SHUFFLE_BYTES = 256 * 2**20


def _image_files(folder):
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files.extend(os.path.join(root, n) for n in names
                     if not n.startswith(".") and os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
    return sorted(files)


def list_image_folder(folder, *, test_fraction=0.2, seed=0, name="folder"):
    """Files, labels and split of an image folder, without decoding any image.

    Args:
        folder: the folder.
        test_fraction: share of the images held out as the test split.
        seed: seed of the split.
        name: the argument name used in error messages (as the caller typed it).

    Returns:
        `(files, labels, class_names, train_idx, test_idx)`: sorted file paths, int64
        labels (or `None`), class names (or `None`) and sorted split indices.

    Raises:
        ValueError: the folder does not exist or holds no images.
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise ValueError(f"`{name}` must be the path of a folder of images. "
                         f"Received: {name}={folder!r}")
    test_fraction = checks.check_number(test_fraction, "test_fraction", 0.0, 1.0,
                                        low_open=True, high_open=True)
    seed = checks.check_seed(seed)
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"`{name}` must be an existing folder of images. "
                         f"Received: {name}='{folder}', which "
                         f"{'is not a folder' if path.exists() else 'does not exist'}.")
    files = _image_files(path)
    if not files:
        raise ValueError(
            f"`{name}` must be a folder containing images with one of the extensions "
            f"{IMAGE_EXTENSIONS}. Received: {name}='{folder}', which holds none."
        )
    prefix = len(str(path)) + 1
    parts = [f[prefix:].split(os.sep) for f in files]
    labels = class_names = None
    if all(len(p) > 1 for p in parts):
        class_names = tuple(sorted({p[0] for p in parts}))
        index = {c: i for i, c in enumerate(class_names)}
        labels = np.array([index[p[0]] for p in parts], dtype=np.int64)
    n = len(files)
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction)) if n > 1 else 0
    n_test = min(max(n_test, 1 if n > 1 else 0), n - 1)
    return files, labels, class_names, np.sort(order[n_test:]), np.sort(order[:n_test])


def _read_pil(path, color_mode, image_size):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if color_mode is None:
                color_mode = "grayscale" if img.mode in _GREY_MODES else "rgb"
            img = img.convert("L" if color_mode == "grayscale" else "RGB")
            if image_size is not None and (img.height, img.width) != tuple(image_size):
                img = img.resize((image_size[1], image_size[0]), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(
            f"Every file in the folder must be a readable image. Received: '{path}', "
            f"which could not be read ({type(e).__name__}: {e})."
        ) from None
    return (array[..., None] if array.ndim == 2 else array), color_mode


def _first_image_format(path, color_mode):
    """`(height, width)` and colour mode of one file, from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            size, mode = (img.height, img.width), img.mode
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(
            f"Every file in the folder must be a readable image. Received: '{path}', "
            f"which could not be read ({type(e).__name__}: {e})."
        ) from None
    return size, color_mode or ("grayscale" if mode in _GREY_MODES else "rgb")


def load_image_folder(folder, *, test_fraction=0.2, image_size=None, color_mode=None, seed=0,
                      name="name"):
    """Reads every image under `folder` into an in-memory `Dataset`.

    Images keep the size of the first one unless `image_size` is given; the colour mode
    is the first image's unless `color_mode` (`"grayscale"` or `"rgb"`) is given.

    Raises:
        ValueError: the folder holds no images, or one of them cannot be read.
    """
    image_size = checks.check_image_size(image_size)
    checks.check_choice(color_mode, "color_mode", (None, "grayscale", "rgb"))
    files, y, class_names, train_idx, test_idx = list_image_folder(
        folder, test_fraction=test_fraction, seed=seed, name=name)
    images = []
    for path in files:
        array, color_mode = _read_pil(path, color_mode, image_size)
        image_size = image_size or array.shape[:2]
        images.append(array)
    x = np.stack(images).astype(np.float32) / 255.0
    return Dataset(
        str(folder), x[train_idx], None if y is None else y[train_idx],
        x[test_idx], None if y is None else y[test_idx], class_names,
    )


class FolderDataset(StreamingMixin):
    """A folder of images read as a stream: decoded and resized in parallel in `tf.data`.

    Args:
        folder: the folder; images in sub-folders are labelled by sub-folder.
        image_size: `(height, width)` every image is resized to (bilinear, antialiased);
            by default the first image's size.
        color_mode: `"grayscale"` or `"rgb"`; by default the first image's mode.
        test_fraction: share of the images held out as the test split.
        seed: seed of the train/test split (the same split as `load_image_folder`'s).
        cache: a folder for an on-disk cache of the decoded, resized images (uint8);
            each split is cached after its first full pass, under a name that changes
            with the file list, size and mode. `None`: decode every pass.
        name: the argument name of `folder` in error messages.

    Attributes:
        files_train, files_test: the file paths of each split, in stream order.
        y_train, y_test: int64 labels of each split, or `None`.
        class_names: the sub-folder names, or `None`.

    Example:

    >>> data = FolderDataset("photos/", image_size=(64, 64))
    >>> for images, labels in data.train_stream(128, seed=0, labels=True).take(1):
    ...     images.shape  # (128, 64, 64, 3), float32 in [0, 1]
    """

    is_streaming = True

    def __init__(self, folder, *, image_size=None, color_mode=None, test_fraction=0.2, seed=0,
                 cache=None, name="folder"):
        self.image_size = checks.check_image_size(image_size)
        self.color_mode = checks.check_choice(color_mode, "color_mode", (None, "grayscale", "rgb"))
        if cache is not None and not isinstance(cache, (str, os.PathLike)):
            raise ValueError(f"`cache` must be a folder path or None. Received: cache={cache!r}")
        files, y, class_names, train_idx, test_idx = list_image_folder(
            folder, test_fraction=test_fraction, seed=seed, name=name)
        self.name = str(folder)
        self.folder = str(Path(folder).expanduser())
        self.test_fraction, self.seed = test_fraction, seed
        self.cache = None if cache is None else str(Path(cache).expanduser())
        self.class_names = class_names
        self._set_files([files[i] for i in train_idx], [files[i] for i in test_idx],
                        None if y is None else y[train_idx], None if y is None else y[test_idx])
        size, self.color_mode = _first_image_format(files[0], color_mode)
        self.image_size = self.image_size or size

    def _set_files(self, files_train, files_test, y_train, y_test):
        self.files_train, self.files_test = tuple(files_train), tuple(files_test)
        self.y_train, self.y_test = y_train, y_test

    @property
    def channels(self):
        return 1 if self.color_mode == "grayscale" else 3

    @property
    def image_shape(self):
        """Shape of one decoded image, `(height, width, channels)`."""
        return (*self.image_size, self.channels)

    @property
    def n_train(self):
        return len(self.files_train)

    @property
    def n_test(self):
        return len(self.files_test)

    def decoded_bytes(self, split="all"):
        """Bytes `split` would take decoded as float32 (what a stream does not hold)."""
        return self.split_size(split) * int(np.prod(self.image_shape)) * 4

    def files(self, split="train"):
        """The file paths of `split`, in the order `stream(split)` reads them unshuffled."""
        split = checks.check_choice(split, "split", ("train", "test", "all"))
        return {"train": self.files_train, "test": self.files_test,
                "all": self.files_train + self.files_test}[split]

    def subset(self, n_train=None, n_test=None, seed=0):
        """A smaller `FolderDataset`: `n_train` and `n_test` files drawn without replacement."""
        rng = np.random.default_rng(seed)

        def take(files, y, n):
            if n is None or n >= len(files):
                return files, y
            idx = np.sort(rng.choice(len(files), size=n, replace=False))
            return [files[i] for i in idx], (None if y is None else y[idx])

        copy = object.__new__(FolderDataset)
        # the arrays cached by x_train / x_test belong to the full dataset
        copy.__dict__.update({k: v for k, v in self.__dict__.items()
                              if k not in ("x_train", "x_test")})
        train, y_train = take(self.files_train, self.y_train, n_train)
        test, y_test = take(self.files_test, self.y_test, n_test)
        copy._set_files(train, test, y_train, y_test)
        return copy

    def _cache_path(self, split, files):
        digest = hashlib.sha1("\n".join([*files, repr(self.image_shape)]).encode()).hexdigest()
        folder = Path(self.cache)
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / f"{split}-{digest[:16]}")

    def _decoder(self, files):
        """A tf function from a path to a uint8 image of `image_shape`."""
        import tensorflow as tf

        height, width, channels = self.image_shape
        use_tf = all(os.path.splitext(f)[1].lower() in _TF_EXTENSIONS for f in files)
        color_mode = self.color_mode

        def read_pil(path):
            return _read_pil(path.decode(), color_mode, None)[0]

        def decode(path):
            if use_tf:
                image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                           dtype=tf.uint8, expand_animations=False)
            else:
                image = tf.numpy_function(read_pil, [path], tf.uint8, stateful=False)
                image.set_shape([None, None, channels])
            same = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
            image = tf.cond(same, lambda: image, lambda: tf.cast(tf.clip_by_value(tf.round(
                tf.image.resize(image, (height, width), antialias=True)), 0, 255), tf.uint8))
            return tf.ensure_shape(image, (height, width, channels))

        return decode

    def stream(self, split="train", batch_size=256, *, shuffle=False, seed=None, labels=False,
               drop_remainder=False, repeat=False, map_fn=None):
        """Batches of `split` as a `tf.data.Dataset` of float32 images in [0, 1].

        Args:
            split: `"train"`, `"test"` or `"all"` (train then test).
            batch_size: images per batch.
            shuffle: reshuffle every epoch. Without a cache the whole file list is
                shuffled; with one, a buffer of decoded images (up to 256 MB) is.
            seed: seed of the shuffle; one seed gives one sequence of epochs.
            labels: yield `(images, labels)` batches (int64 labels).
            drop_remainder: drop the last, smaller batch.
            repeat: repeat without end (for step-based training loops).
            map_fn: a function applied to each batch (to `images`, or to `images,
                labels`), e.g. `lambda x: (x, x)` for an autoencoder.

        Returns:
            A prefetched `tf.data.Dataset`; files are decoded with
            `num_parallel_calls=AUTOTUNE`, in a deterministic order.
        """
        import tensorflow as tf

        split, batch_size, seed = check_stream_args(self, split, batch_size, seed, labels)
        files = list(self.files(split))
        n = len(files)
        decode = self._decoder(files)
        elements = (files, self.labels(split)) if labels else files
        ds = tf.data.Dataset.from_tensor_slices(elements)
        autotune = tf.data.AUTOTUNE
        if labels:
            def decode_element(path, label):
                return decode(path), label
        else:
            decode_element = decode
        if self.cache is None:
            if shuffle:  # shuffling names is cheap: the whole file list, every epoch
                ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
            if repeat:
                ds = ds.repeat()
            ds = ds.map(decode_element, num_parallel_calls=autotune, deterministic=True)
        else:
            ds = ds.map(decode_element, num_parallel_calls=autotune, deterministic=True)
            ds = ds.cache(self._cache_path(split, files))
            if shuffle:
                buffer = max(1, min(n, _CACHED_SHUFFLE_BYTES // int(np.prod(self.image_shape))))
                ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
            if repeat:
                ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

        def to_float(images, *rest):
            return (tf.cast(images, tf.float32) / 255.0, *rest) if rest else \
                tf.cast(images, tf.float32) / 255.0

        ds = ds.map(to_float, num_parallel_calls=autotune, deterministic=True)
        if map_fn is not None:
            ds = ds.map(map_fn, num_parallel_calls=autotune, deterministic=True)
        options = tf.data.Options()
        # the elements are file names, not files: shard by element under tf.distribute
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options).prefetch(autotune)

    def image_reader(self, split="all"):
        """A tf function from an int64 index of `split` to its float32 image in [0, 1].

        For pipelines that draw the images by index in an order of their own (DEC's
        batches, paired with the rows of its target distribution): map it over a
        `tf.data.Dataset` of indices, with `num_parallel_calls`. It decodes the file
        each time (the on-disk `cache` is for the sequential streams).

        Args:
            split: `"train"`, `"test"` or `"all"` (train then test, as `stream` orders
                them).

        Returns:
            A function of a scalar int64 tensor returning an image of `image_shape`.
        """
        import tensorflow as tf

        files = list(self.files(split))
        paths = tf.constant(files)
        decode = self._decoder(files)

        def read(index):
            return tf.cast(decode(tf.gather(paths, index)), tf.float32) / 255.0

        return read

    def _materialize(self, split):
        if self.decoded_bytes(split) > STREAM_THRESHOLD_BYTES:
            raise MemoryError(
                f"The {split} images of the folder dataset '{self.name}' would take "
                f"{self.decoded_bytes(split) / 2**20:.0f} MiB decoded as float32, more than "
                f"the in-memory limit of {STREAM_THRESHOLD_BYTES / 2**20:.0f} MiB: train from "
                f"`data.train_stream(batch_size)` and encode with `data.encode(model, split)`, "
                f"which hold only a few batches."
            )
        x = np.empty((self.split_size(split), *self.image_shape), np.float32)
        start = 0
        for batch in self.stream(split, 1024).as_numpy_iterator():
            x[start:start + len(batch)] = batch
            start += len(batch)
        return x

    # Arrays for code that has not moved to streams yet; refused above the threshold.
    @cached_property
    def x_train(self):
        """The train images as one float32 array (small folders only; prefer streams)."""
        return self._materialize("train")

    @cached_property
    def x_test(self):
        """The test images as one float32 array (small folders only; prefer streams)."""
        return self._materialize("test")

    @property
    def x_all(self):
        """Train and test images as one float32 array (small folders only)."""
        return np.concatenate([self.x_train, self.x_test])

    def __repr__(self):
        return (f"FolderDataset({self.name!r}, image_shape={self.image_shape}, "
                f"n_train={self.n_train}, n_test={self.n_test}, n_classes={self.n_classes})")


def open_image_folder(folder, *, stream=None, cache=None, test_fraction=0.2, image_size=None,
                      color_mode=None, seed=0, name="name"):
    """`load_dataset`'s folder branch: a `FolderDataset`, or a `Dataset` in memory.

    `stream=None` streams when the folder decoded as float32 exceeds
    `STREAM_THRESHOLD_BYTES` (or when a `cache` is asked for); `True` always streams;
    `False` always reads into memory.
    """
    if stream is not None:
        checks.check_bool(stream, "stream")
    data = FolderDataset(folder, image_size=image_size, color_mode=color_mode,
                         test_fraction=test_fraction, seed=seed, cache=cache, name=name)
    if stream or (stream is None and (cache is not None
                                      or data.decoded_bytes() > STREAM_THRESHOLD_BYTES)):
        return data
    return load_image_folder(folder, test_fraction=test_fraction, image_size=image_size,
                             color_mode=color_mode, seed=seed, name=name)
