"""tf.data input pipelines used by the recipes.

The images are held once as a constant tensor; each epoch shuffles only the indices
and gathers whole batches, which is cheaper than shuffling and batching single
images. Noise is applied in-graph, per batch, after the gather.
"""

import numpy as np
import tensorflow as tf

from keras_unsup.checks import check_bool, check_image_array, check_positive_int, check_seed
from keras_unsup.data.augment import NumpyAugmenter


def image_dataset(x, batch_size=256, *, labels=None, shuffle=True, seed=None,
                  drop_remainder=False, map_fn=None, repeat=False, parallel_map=True):
    """Batches of images, shuffled by index, each batch passed through `map_fn`.

    Args:
        x: images of shape `(n, height, width, channels)`.
        batch_size: images per batch.
        labels: `None`, or one integer label per image: batches are then
            `(images, labels)` pairs (and `map_fn` receives both).
        shuffle: reshuffle the order every epoch.
        seed: seed of the shuffle.
        drop_remainder: drop the last, smaller batch.
        map_fn: a function of a batch tensor returning anything tf.data accepts
            (for example `(noisy, clean)` pairs).
        repeat: repeat without end (for step-based training loops).
        parallel_map: run `map_fn` on several batches at once (the output order is
            kept either way); `False` runs it one batch at a time, in order, for a
            `map_fn` whose seeded random state must advance in a fixed order.

    Returns:
        A prefetched `tf.data.Dataset`.
    """
    x = check_image_array(x, "x")
    batch_size = check_positive_int(batch_size, "batch_size")
    drop_remainder = check_bool(drop_remainder, "drop_remainder")
    if drop_remainder and batch_size > len(x):
        raise ValueError(
            f"`batch_size` must be <= the number of images ({len(x)}) when "
            f"`drop_remainder=True`, or no batch is left. Received: batch_size={batch_size}"
        )
    seed = check_seed(seed)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(x) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"`labels` must hold one integer per image ({len(x)}). "
                f"Received: labels of shape {labels.shape} and dtype {labels.dtype}"
            )
    if map_fn is not None and not callable(map_fn):
        raise ValueError(f"`map_fn` must be callable on a batch tensor. Received: map_fn={map_fn!r}")
    images = tf.constant(x)
    n = x.shape[0]
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if labels is None:
        def gather(idx):
            return tf.gather(images, idx)
    else:
        targets = tf.constant(labels.astype(np.int64))

        def gather(idx):
            return tf.gather(images, idx), tf.gather(targets, idx)
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if map_fn is not None:
        if check_bool(parallel_map, "parallel_map"):
            ds = ds.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:  # one call at a time (TensorFlow warns about `deterministic` without parallel calls)
            ds = ds.map(map_fn)
    return ds.prefetch(tf.data.AUTOTUNE)


def autoencoder_dataset(x, batch_size=256, *, noise=None, augmenter=None, shuffle=True,
                        seed=None, drop_remainder=False):
    """`(input, target)` batches for an autoencoder: the target is the clean image.

    Args:
        x: images of shape `(n, height, width, channels)` in [0, 1].
        batch_size: images per batch.
        noise: a Keras layer applied to the inputs in-graph (for example
            `SaltAndPepper(0.2, seed=0, always=True)`), or `None`.
        augmenter: a user's own NumPy augmenter (any callable on a batch, or a
            `NumpyAugmenter`) applied to the inputs, or `None`.
        shuffle: reshuffle every epoch.
        seed: seed of the shuffle.
        drop_remainder: drop the last, smaller batch.

    Example:

    >>> from keras_unsup.data import SaltAndPepper
    >>> ds = autoencoder_dataset(x, 128, noise=SaltAndPepper(0.2, seed=0, always=True))
    """
    if augmenter is not None and not isinstance(augmenter, NumpyAugmenter):
        augmenter = NumpyAugmenter(augmenter)

    def to_pair(batch):
        inputs = batch
        if augmenter is not None:
            inputs = augmenter.tf_map(inputs)
        if noise is not None:
            inputs = noise(inputs, training=True)
        return inputs, batch

    return image_dataset(x, batch_size, shuffle=shuffle, seed=seed,
                         drop_remainder=drop_remainder, map_fn=to_pair)
