"""A memory bank of one L2-normalised feature per training image (NPID's)."""

import math

import keras
from keras import ops

from keras_unsup.checks import check_number, check_positive_int, check_seed
from keras_unsup.layers.info_nce import l2_normalize


@keras.saving.register_keras_serializable(package="keras_unsup")
class MemoryBank(keras.layers.Layer):
    """One L2-normalised feature per training image, kept across batches and epochs.

    The memory bank of non-parametric instance discrimination (Wu, Xiong, Yu and Lin,
    2018, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination"):
    entry `i` holds the feature of image `i` from the last time it was seen, and
    plays the role of the class weight of "class i" in a softmax without weights.
    After each step the entries of the batch move towards the new features,
    `v_i <- normalise(m v_i + (1 - m) f_i)`.

    The bank is a non-trainable weight, so it saves and loads with the model. It
    starts from random vectors (uniform in `[-1/sqrt(dim/3), 1/sqrt(dim/3)]`, of unit
    length on average), as in the paper.

    Args:
        size: entries, one per training image (>= the batch size).
        dim: length of each feature.
        momentum: `m` of the update, in [0, 1); 0 overwrites the entries (Wu et al.
            use 0.5).
        seed: seed of the initial entries.

    Call arguments:
        features: `(batch, dim)` features, L2-normalised by the caller.

    Output shape: `(batch, size)`, the cosine similarity of each feature with every
    entry.

    Example:

    >>> bank = MemoryBank(size=1000, dim=128)
    >>> similarities = bank(features)          # (batch, 1000)
    >>> bank.write(indices, features)          # after the optimizer step
    """

    def __init__(self, size, dim, momentum=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int(size, "size")
        self.dim = check_positive_int(dim, "dim")
        self.momentum = check_number(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.seed = check_seed(seed)
        limit = 1.0 / math.sqrt(self.dim / 3.0)
        # Identical on every replica (the entries written are gathered first), so the
        # first replica's value stands for all.
        self.bank = self.add_weight(
            shape=(self.size, self.dim), name="bank", trainable=False,
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            aggregation="only_first_replica")
        self.built = True

    def check_batch_size(self, batch_size, name="batch_size"):
        """Refuses batches larger than the bank (before any work); returns the size."""
        if batch_size is not None and int(batch_size) > self.size:
            raise ValueError(
                f"The memory bank holds {self.size} entries, one per training image, fewer "
                f"than a batch: `{name}` must be <= {self.size} (or the bank sized to the "
                f"training set). Received: {name}={int(batch_size)}")
        return batch_size

    def call(self, features):
        features = ops.cast(features, self.compute_dtype)
        self.check_batch_size(features.shape[0], "batch")
        return ops.matmul(features, ops.transpose(ops.convert_to_tensor(self.bank)))

    def read(self, indices):
        """The entries of `indices`, `(batch, dim)`."""
        return ops.take(ops.convert_to_tensor(self.bank), ops.cast(indices, "int32"), axis=0)

    def write(self, indices, features):
        """Moves the entries of `indices` towards `features` (L2-normalised after).

        `indices` must be distinct (one batch of a shuffled epoch is).
        """
        self.check_batch_size(features.shape[0], "batch")
        indices = ops.cast(indices, "int32")
        old = self.read(indices)
        new = l2_normalize(self.momentum * old + (1.0 - self.momentum)
                           * ops.cast(features, old.dtype))
        self.bank.assign(ops.scatter_update(ops.convert_to_tensor(self.bank),
                                            ops.expand_dims(indices, -1), new))

    def compute_output_shape(self, features_shape):
        return (features_shape[0], self.size)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "dim": self.dim, "momentum": self.momentum,
                       "seed": self.seed})
        return config
