"""Pieces several recipe families share: autoencoder pretraining, code extraction, and
the helpers of streamed datasets (a held-out part, a sample, the refusal of methods that
need the images in memory)."""

import keras
import numpy as np

from keras_unsup.data.pipeline import autoencoder_dataset
from keras_unsup.recipes import training


def encode(encoder, x, batch_size=1024):
    """Codes of `x` as a float32 NumPy array, computed in batches."""
    return np.asarray(encoder.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


def pretrain_autoencoder(x, *, builder=None, epochs, batch_size=256, seed=0, run=None,
                         verbose=1, learning_rate=1e-3, validation_x=None, patience=None,
                         callbacks=(), name="fit", key=None, split="all", **builder_kwargs):
    """Builds an autoencoder for `x`'s image shape and trains it to reconstruct `x`.

    Args:
        x: training images `(n, h, w, c)` in [0, 1], or a streamed dataset
            (`data.is_streaming`): it then trains on `x.stream(split)`, reshuffled every
            epoch with `seed`, and no image is held whole.
        builder: a builder from `keras_unsup.builders` (default: the dense autoencoder).
        epochs: training epochs.
        batch_size: images per step.
        seed: seed of the shuffle.
        run: a `RunDir`; a rerun into the same folder resumes from the last epoch.
        verbose: Keras' progress bar setting.
        learning_rate: Adam's learning rate.
        validation_x: held-out images for early stopping (with `patience`).
        patience: early-stopping patience in epochs, or `None`.
        callbacks: further Keras callbacks.
        name, key: the fit's name and key in the run state (see `training.fit`).
        split: with a streamed `x` (and `validation_x`), the split trained on
            (`"train"`, `"test"` or `"all"`, train then test); unused for arrays.
        **builder_kwargs: passed to the builder (e.g. `code_size=10`).

    Returns:
        `(autoencoder, encoder, decoder, throughput, history)`; `history.steps_this_call`
        is 0 when a finished pretraining in `run` was reused.
    """
    if builder is None:
        from keras_unsup.builders.autoencoder import build_dense_autoencoder as builder
    streamed = getattr(x, "is_streaming", False)
    shape = tuple(x.image_shape) if streamed else tuple(x.shape[1:])
    autoencoder, encoder, decoder = builder(input_shape=shape, **builder_kwargs)
    # No jit_compile: runs enable op determinism (same seed, same metrics), which XLA lacks.
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    if streamed:
        train_ds = x.stream(split, batch_size, shuffle=True, seed=seed, map_fn=_pair)
        n_images = x.split_size(split)
    else:
        train_ds = autoencoder_dataset(x, batch_size, seed=seed)
        n_images = len(x)
    val_ds = None
    if validation_x is not None and getattr(validation_x, "is_streaming", False):
        val_ds = validation_x.stream(split, 1024, map_fn=_pair)
    elif validation_x is not None:
        val_ds = autoencoder_dataset(validation_x, 1024, shuffle=False)
    history, throughput = training.fit(autoencoder, train_ds, epochs=epochs, run=run,
                                       n_images=n_images, validation_data=val_ds,
                                       patience=patience, callbacks=callbacks, verbose=verbose,
                                       name=name, key=key)
    return autoencoder, encoder, decoder, throughput, history


def _pair(batch):
    return batch, batch


def stream_reconstruction_mse(autoencoder, data, split="all", batch_size=1024):
    """Mean squared reconstruction error of `split`, read batch by batch from the stream.

    The streaming counterpart of `autoencoder.evaluate(x, x)` for an autoencoder
    compiled with the `"mse"` loss: Keras averages the loss over the images, each
    batch weighted by its size.
    """
    value = autoencoder.evaluate(data.stream(split, batch_size, map_fn=_pair), verbose=0)
    return float(value if np.isscalar(value) else value[0])


def hold_out(data, share, seed):
    """Splits a streamed dataset's train split into a part to fit and a held-out part.

    The streaming counterpart of holding out `share` of `x_train` for early stopping:
    the same seeded permutation, drawn over the train files instead of the images, so
    nothing is decoded here.

    Args:
        data: a streamed dataset (`FolderDataset`).
        share: share of the train images held out (at least one is).
        seed: seed of the split.

    Returns:
        `(fit_data, val_data)`, two datasets of the same kind whose train splits are the
        images to fit and the held-out ones (`val_data.stream("train", ...)`); their
        test splits are `data`'s.
    """
    if not hasattr(data, "files_train"):
        raise ValueError(f"`data` must be a streamed folder dataset (a FolderDataset). "
                         f"Received: data of type {type(data).__name__}")
    n = data.n_train
    if n < 2:
        raise ValueError(f"The train split must hold at least 2 images to hold some out for "
                         f"validation. Received: {n} train image(s) in {data.name!r}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(n * share))
    files, y = data.files_train, data.y_train

    def part(idx):
        idx = np.sort(idx)
        copy = data.subset()  # a copy sharing the folder's settings (size, mode, cache)
        copy._set_files([files[i] for i in idx], data.files_test,
                        None if y is None else y[idx], data.y_test)
        return copy

    return part(order[n_val:]), part(order[:n_val])


def stream_sample(data, split="test", n=10):
    """The first `n` images of `split`, read from the stream (for figures)."""
    n = int(min(n, data.split_size(split)))
    return next(data.stream(split, max(n, 1), shuffle=False).as_numpy_iterator())[:n]


def in_memory_sample(data, n_train, n_test, seed=0):
    """A seeded random sample of a streamed dataset, read into an in-memory `Dataset`.

    For the evaluations that need images as arrays (a GAN's Fréchet distance and probe,
    its guard's reference images): they see `n_train` training and `n_test` test
    images, never the whole folder. An in-memory dataset is returned as it is.
    """
    from keras_unsup.data.datasets import Dataset

    if not getattr(data, "is_streaming", False):
        return data
    part = data.subset(n_train, n_test, seed=seed)

    def read(split):
        n = part.split_size(split)
        if n == 0:
            return np.zeros((0, *data.image_shape), np.float32), None
        labelled = part.labels(split) is not None
        batches = list(part.stream(split, 1024, labels=labelled).as_numpy_iterator())
        if not labelled:
            return np.concatenate(batches), None
        return (np.concatenate([b[0] for b in batches]),
                np.concatenate([b[1] for b in batches]).astype(np.int64))

    (x_train, y_train), (x_test, y_test) = read("train"), read("test")
    return Dataset(data.name, x_train, y_train, x_test, y_test,
                   class_names=getattr(data, "class_names", None))


def require_in_memory(data, method, why, *, flag=None):
    """Refuses a streamed dataset for a method that needs every image in memory.

    Called first thing by such a recipe (the GANs, the clustering family), so the
    refusal comes before any work (and before any image is decoded).

    Args:
        data: the run's dataset.
        method: the method's name, for the message.
        why: what the method holds in memory, for the message.
        flag: the `RunConfig.option_flag` (`"--set"` on the command line), which
            says whether the user typed `--dataset` or `dataset=`.

    Raises:
        ValueError: `data.is_streaming` is true.
    """
    if not getattr(data, "is_streaming", False):
        return
    from keras_unsup.data import folder

    label = "--dataset" if flag else "dataset"
    n = int(data.n_train) + int(data.n_test)
    size = data.decoded_bytes() if hasattr(data, "decoded_bytes") else None
    over = size is not None and size > folder.STREAM_THRESHOLD_BYTES
    amount = "" if size is None else f", {size / 2**20:,.1f} MiB as float32"
    raise ValueError(
        f"`{label}` {data.name!r} is streamed ({n:,} images{amount}, "
        f"{'larger than memory' if over else 'streamed as asked'}); {method} needs the "
        f"images in memory: {why}. Train a method that learns from a stream (the "
        f"autoencoder and self-supervised families), or read a smaller folder into memory "
        f"(`load_dataset(folder, stream=False)`). Received: {label}={data.name!r}")
