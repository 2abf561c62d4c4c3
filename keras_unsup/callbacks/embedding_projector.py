"""`EmbeddingProjector`: exports an encoder's codes for TensorBoard's Embedding Projector."""

from pathlib import Path

import keras
import numpy as np

from keras_unsup.callbacks._figures import check_every as _check_every
from keras_unsup.embedding.encoding import check_images, encode_images, expected_input_shape
from keras_unsup.embedding.projector import export_projector


class EmbeddingProjector(keras.callbacks.Callback):
    """Writes the codes of fixed images, a sprite and labels for TensorBoard's projector.

    Every `every` epochs (and at the end of training, if the last epoch was not
    exported) the images are encoded and `export_projector` writes them into
    `log_dir`. With `keep_epochs=True` each export is its own tensor
    (`embedding_epoch_003`, ...) so the projector's drop-down compares epochs;
    otherwise one tensor is overwritten. Point TensorBoard at `log_dir` (or at the
    folder of the `keras.callbacks.TensorBoard` logs, with the same `log_dir`).

    Args:
        encoder: a Keras model from images to codes (a VAE's encoder: `output_index`
            picks the output; 0, the mean, by default).
        images: images `(n, *input_shape)` in [0, 1]; at most `max_points` are used
            (a fixed random subset).
        log_dir: the folder to write into.
        labels: optional labels `(n,)` (they only annotate; nothing trains on them).
        class_names: optional names of integer labels.
        every: export after every `every`-th epoch.
        keep_epochs: one tensor per export instead of one overwritten tensor.
        tensor_name: the tensor's name (the stem of its files).
        max_points: the most images exported (the projector's sprite holds 8192 x 8192 px).
        output_index: which encoder output is the code.
        seed: seed of the subset.

    Attributes:
        exported_epochs: the epochs (from 1) exported so far.
        config_path: the `projector_config.pbtxt` written, or `None`.

    Example:

    >>> cb = EmbeddingProjector(encoder, x_test[:2000], "logs/ae", labels=y_test[:2000])
    >>> autoencoder.fit(x, x, epochs=5, callbacks=[cb])  # doctest: +SKIP
    """

    def __init__(self, encoder, images, log_dir, labels=None, class_names=None, every=1,
                 keep_epochs=False, tensor_name="embedding", max_points=10000, output_index=0,
                 seed=0):
        super().__init__()
        if not callable(encoder):
            raise ValueError(f"`encoder` must be a Keras model or callable. Received: encoder={encoder!r}")
        images = check_images(images, expected_input_shape(encoder))
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(images):
                raise ValueError(
                    f"`labels` must hold one label per image ({len(images)}). Received: {len(labels)} labels"
                )
        _check_every(every)
        if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 1:
            raise ValueError(f"`max_points` must be an integer >= 1. Received: max_points={max_points!r}")
        if log_dir is None:
            raise ValueError("`log_dir` must be a folder path. Received: log_dir=None")
        keep = np.arange(len(images))
        if len(images) > max_points:
            keep = np.sort(np.random.default_rng(seed).choice(len(images), max_points, replace=False))
        self.encoder = encoder
        self.images = images[keep]
        self.labels = None if labels is None else labels[keep]
        self.class_names = class_names
        self.log_dir = Path(log_dir)
        self.every = int(every)
        self.keep_epochs = bool(keep_epochs)
        self.tensor_name = tensor_name
        self.output_index = int(output_index)
        self.exported_epochs = []
        self.config_path = None
        self._last_epoch = None

    def export(self, epoch=None):
        """Encodes the images and writes the export now; returns the config path."""
        codes = encode_images(self.encoder, self.images, output_index=self.output_index)
        name = self.tensor_name
        if self.keep_epochs and epoch is not None:
            name = f"{self.tensor_name}_epoch_{epoch:03d}"
        self.config_path = export_projector(
            codes, self.log_dir, images=self.images, labels=self.labels,
            class_names=self.class_names, tensor_name=name,
        )
        if epoch is not None:
            self.exported_epochs.append(epoch)
        return self.config_path

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch + 1
        if (epoch + 1) % self.every == 0:
            self.export(epoch + 1)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and self._last_epoch not in self.exported_epochs:
            self.export(self._last_epoch)
