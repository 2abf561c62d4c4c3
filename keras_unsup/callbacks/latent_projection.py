"""`LatentProjection`: a 2-D map of an encoder's codes, redrawn as training goes."""

from pathlib import Path

import keras
import numpy as np

from keras_unsup import viz
from keras_unsup.callbacks._figures import check_every as _check_every
from keras_unsup.callbacks._figures import check_show as _check_show
from keras_unsup.callbacks._figures import emit_figure as _emit
from keras_unsup.callbacks.reconstruction_grid import _first_output


class LatentProjection(keras.callbacks.Callback):
    """Projects the encoder's codes of fixed images to 2-D every `every` epochs.

    The codes are projected with t-SNE or PCA (`viz.project_2d`) and drawn as a
    scatter coloured by `labels` when given (labels only colour the plot; nothing
    trains on them). The figure is saved as `output_dir/latent_epoch_{epoch:03d}.png`
    (epochs counted from 1) and/or shown in the notebook's output. An encoder with
    several outputs (a VAE's `[z_mean, z_log_var, z]`) is represented by its first.
    t-SNE takes seconds to minutes on thousands of points: prefer `"pca"` or a
    larger `every` on long runs.

    Args:
        encoder: a model mapping `images` to codes; it shares its weights with the
            model being trained.
        images: the inputs to encode, an array with one row per image.
        labels: optional integer labels of shape `(len(images),)`.
        method: `"tsne"` or `"pca"`.
        output_dir: folder for the PNG files (created when missing); `None` saves
            nothing.
        every: draw at the end of every `every`-th epoch.
        show: display the figure inline (needs IPython, i.e. a notebook).
        seed: seed of the subset and of t-SNE, so epochs are comparable.
        class_names: optional names of the labels for the legend.
        max_points: above this many images a fixed random subset of this size is
            encoded and drawn.

    Attributes:
        paths: the files written so far.
        last_points: the latest projection, shape `(m, 2)` (None before the first).

    Example:

    >>> callback = LatentProjection(encoder, x_test[:1000], y_test[:1000],
    ...                             method="pca", output_dir="run/figures")
    >>> autoencoder.fit(x_train, x_train, epochs=5, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(
        self,
        encoder,
        images,
        labels=None,
        method="tsne",
        output_dir=None,
        every=1,
        show=False,
        seed=0,
        class_names=None,
        max_points=5000,
    ):
        super().__init__()
        if not callable(getattr(encoder, "predict", None)):
            raise ValueError(
                "`encoder` must be a Keras model (with a `predict` method). "
                f"Received: encoder={encoder!r}"
            )
        images = np.asarray(images)
        if images.ndim < 2 or len(images) < 2:
            raise ValueError(
                "`images` must be an array of at least 2 inputs, one per row. "
                f"Received: images.shape={images.shape}"
            )
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(images):
                raise ValueError(
                    f"`labels` must hold one label per image. Expected: {len(images)} labels, "
                    f"Received: labels of length {len(labels)}"
                )
        viz._check_method(method)
        _check_every(every)
        if (
            isinstance(max_points, bool)
            or not isinstance(max_points, (int, np.integer))
            or max_points < 2
        ):
            raise ValueError(
                f"`max_points` must be an integer >= 2. Received: max_points={max_points!r}"
            )
        _check_show(show)

        # Subset once, here: encoding all of a large set every epoch only to throw
        # most codes away in the projection would waste the time.
        self.index = np.arange(len(images))
        if len(images) > max_points:
            rng = np.random.default_rng(seed)
            self.index = np.sort(rng.choice(len(images), size=max_points, replace=False))
        self.encoder = encoder
        self.images = images[self.index]
        self.labels = None if labels is None else labels[self.index]
        self.method = method
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.every = int(every)
        self.show = bool(show)
        self.seed = seed
        self.class_names = class_names
        self.paths = []
        self.last_points = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every != 0:
            return
        if self.output_dir is None and not self.show:
            return
        codes = _first_output(self.encoder.predict(self.images, verbose=0))
        points, _ = viz.project_2d(codes, method=self.method, seed=self.seed, max_points=len(codes))
        self.last_points = points
        fig = viz.plot_latent(
            points,
            labels=self.labels,
            title=f"Latent space ({self.method}), epoch {epoch + 1}",
            class_names=self.class_names,
        )
        path = _emit(fig, self.output_dir, f"latent_epoch_{epoch + 1:03d}.png", self.show)
        if path is not None:
            self.paths.append(path)
