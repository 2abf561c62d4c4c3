"""One way to read a dataset batch by batch, whether it is held in memory or streamed.

Both kinds of dataset `load_dataset` returns share this surface, so a recipe written
against it trains on a folder larger than memory exactly as on MNIST:

- `data.is_streaming`: `False` for a `Dataset` (arrays in memory), `True` for a
  `FolderDataset` (files decoded on the fly; its `x_train` is not held).
- `data.n_train`, `data.n_test`, `data.image_shape`, `data.n_classes`,
  `data.class_names`; labels are small and always held: `data.labels(split)`,
  `data.y_train`, `data.y_test`, `data.y_all`.
- `data.train_stream(batch_size, seed=..., shuffle=True)`: a `tf.data.Dataset` of
  float32 image batches in [0, 1] for `model.fit` (`labels=True` adds the labels,
  `map_fn` maps each batch, e.g. to `(noisy, clean)` pairs; `repeat=True` for
  step-based loops).
- `data.test_stream(batch_size)` and `data.stream(split, ...)`, `split` one of
  `"train"`, `"test"`, `"all"` (train then test, as `x_all` orders them).
- `data.encode(model, split)`: the model's outputs for every image of a split, in
  order, computed batch by batch; only the codes are held whole.

Example:

>>> data = load_dataset("my_images/")            # streams when the folder is large
>>> autoencoder.fit(data.train_stream(256, seed=0, map_fn=lambda x: (x, x)), epochs=5)
>>> codes = data.encode(encoder, "all")           # (n_train + n_test, code_size)
>>> labels = data.labels("all")
"""

import numpy as np

from keras_unsup import checks

SPLITS = ("train", "test", "all")


class StreamingMixin:
    """The batch-by-batch surface shared by `Dataset` and `FolderDataset`.

    A subclass provides `y_train`, `y_test`, `n_train`, `n_test` and
    `stream(split, batch_size, ...)`.
    """

    @property
    def n_classes(self):
        """Number of distinct labels, or `None` for unlabelled data."""
        labels = [y for y in (self.y_train, self.y_test) if y is not None and len(y)]
        if not labels:
            return None
        return int(max(int(y.max()) for y in labels) + 1)

    @property
    def y_all(self):
        """Train and test labels concatenated, or `None`."""
        if self.y_train is None or self.y_test is None:
            return None
        return np.concatenate([self.y_train, self.y_test])

    def labels(self, split="train"):
        """The labels of `split` (`"train"`, `"test"` or `"all"`), or `None`."""
        split = checks.check_choice(split, "split", SPLITS)
        return {"train": self.y_train, "test": self.y_test, "all": self.y_all}[split]

    def split_size(self, split):
        """Number of images in `split`."""
        split = checks.check_choice(split, "split", SPLITS)
        return {"train": self.n_train, "test": self.n_test,
                "all": self.n_train + self.n_test}[split]

    def train_stream(self, batch_size=256, *, seed=None, shuffle=True, **kwargs):
        """Batches of the train split for `fit`, reshuffled every epoch; see `stream`."""
        return self.stream("train", batch_size, shuffle=shuffle, seed=seed, **kwargs)

    def test_stream(self, batch_size=256, **kwargs):
        """Batches of the test split, in order; see `stream`."""
        return self.stream("test", batch_size, **kwargs)

    def encode(self, model, split="test", *, batch_size=256, output_index=0):
        """The outputs of `model` for every image of `split`, in order, as float32.

        Args:
            model: a Keras model (its `predict` runs over the stream) or any callable
                on a NumPy batch of images.
            split: `"train"`, `"test"` or `"all"` (train then test).
            batch_size: images encoded at a time (bounds the memory of one step).
            output_index: which output to keep when the model has several (a VAE
                encoder gives `[z_mean, z_log_var, z]`; 0 keeps the mean); `None`
                keeps them all, as a list.

        Returns:
            An array `(n, ...)` of the split's codes (or a list of them).
        """
        split = checks.check_choice(split, "split", SPLITS)
        batch_size = checks.check_positive_int(batch_size, "batch_size")
        ds = self.stream(split, batch_size, shuffle=False)
        return encode_stream(model, ds, output_index=output_index)


def _pick_output(out, output_index):
    if isinstance(out, dict):
        out = list(out.values())
    if not isinstance(out, (list, tuple)):
        return np.asarray(out, dtype=np.float32)
    if output_index is None:
        return [np.asarray(o, dtype=np.float32) for o in out]
    if not checks.is_int(output_index) or not -len(out) <= output_index < len(out):
        raise ValueError(f"`output_index` must pick one of the model's {len(out)} outputs. "
                         f"Received: output_index={output_index!r}")
    return np.asarray(out[output_index], dtype=np.float32)


def encode_stream(model, ds, *, output_index=0):
    """Runs `model` over a `tf.data.Dataset` of image batches; returns the outputs.

    A Keras model runs through its own `predict` (one compiled function, no Python
    loop per batch); any other callable is called on each NumPy batch.
    """
    import keras

    if isinstance(model, keras.Model):
        return _pick_output(model.predict(ds, verbose=0), output_index)
    if not callable(model):
        raise ValueError(f"`model` must be a Keras model or a callable on a batch of images. "
                         f"Received: model of type {type(model).__name__}")
    outs = [_pick_output(model(batch), output_index) for batch in ds.as_numpy_iterator()]
    if outs and isinstance(outs[0], list):
        return [np.concatenate(parts) for parts in zip(*outs)]
    return np.concatenate(outs)


def array_stream(x, y=None, batch_size=256, *, shuffle=False, seed=None, labels=False,
                 drop_remainder=False, repeat=False, map_fn=None):
    """`stream` for images held in memory (`Dataset`): `image_dataset`, with labels."""
    from keras_unsup.data.pipeline import image_dataset

    return image_dataset(x, batch_size, shuffle=shuffle, seed=seed,
                         drop_remainder=drop_remainder, map_fn=map_fn, repeat=repeat,
                         labels=np.asarray(y, np.int64) if labels else None)


def check_stream_args(data, split, batch_size, seed, labels):
    """Validates the arguments every `stream` takes; returns `(split, batch_size, seed)`."""
    split = checks.check_choice(split, "split", SPLITS)
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    seed = checks.check_seed(seed)
    if checks.check_bool(labels, "labels") and data.labels(split) is None:
        raise ValueError(f"`labels=True` needs a labelled dataset. Received: labels=True, "
                         f"but {data.name!r} has no labels (its images are not in "
                         f"class sub-folders)")
    return split, batch_size, seed
