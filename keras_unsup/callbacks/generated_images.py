"""`GeneratedImages`: a grid of images a GAN makes from fixed noise, every few epochs."""

from pathlib import Path

import keras
import numpy as np

from keras_unsup.checks import check_bool, check_positive_int


def generated_grid(model, latent, ncols=None, title=None):
    """A `viz.image_grid` figure of `model.generate(latent=latent)`."""
    from keras_unsup import viz

    images = model.generate(latent=latent)
    fig = viz.image_grid(images, ncols=ncols or min(len(images), 10))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


class GeneratedImages(keras.callbacks.Callback):
    """Draws the images a GAN generates from the same noise at the end of every `every` epochs.

    Works with `GAN`, `InfoGAN` and `WGANGP` (anything with `fixed_latent(n, seed)` and
    `generate(latent=...)`). The noise is drawn once, so the grids of successive
    epochs show how the same inputs evolve. For an `InfoGAN` the default noise
    cycles through the categories, one category per column when `ncols` equals
    `n_categories` (the default for it). Files are
    `output_dir/generated_epoch_{epoch:03d}.png` (epochs counted from 1). With
    neither `output_dir` nor `show` the callback does nothing.

    Args:
        n: how many images (ignored when `latent` is given).
        latent: explicit generator inputs `(n, latent_dim)`; `None` draws
            `model.fixed_latent(n, seed)` when training starts.
        seed: seed of that noise.
        output_dir: folder for the PNG files (created when missing), or `None`.
        every: draw every `every`-th epoch.
        show: display the grid in the notebook's output (needs IPython).
        ncols: columns of the grid (`None`: `n_categories` for an InfoGAN, else 8).

    Attributes:
        paths: files written so far.

    Example:

    >>> callback = GeneratedImages(64, output_dir="runs/dcgan/samples")
    >>> gan.fit(ds, epochs=10, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, n=64, latent=None, seed=0, output_dir=None, every=1, show=False, ncols=None):
        super().__init__()
        check_positive_int(n, "n")
        if latent is not None:
            latent = np.asarray(latent, np.float32)
            if latent.ndim != 2 or len(latent) == 0:
                raise ValueError(
                    "`latent` must have shape (n, latent_dim) with n >= 1. "
                    f"Received: latent.shape={latent.shape}"
                )
        check_positive_int(ncols, "ncols", allow_none=True)
        self.n = int(n)
        self.latent = latent
        self.seed = seed
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.every = check_positive_int(every, "every")
        self.show = check_bool(show, "show")
        self.ncols = ncols
        self.paths = []

    def on_train_begin(self, logs=None):
        if self.latent is None:
            self.latent = self.model.fixed_latent(self.n, self.seed)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or (self.output_dir is None and not self.show):
            return
        ncols = self.ncols or getattr(self.model, "n_categories", None) or 8
        fig = generated_grid(
            self.model, self.latent, ncols=min(ncols, len(self.latent)), title=f"Epoch {epoch + 1}"
        )
        from keras_unsup import viz

        path = None
        if self.output_dir is not None:
            path = self.output_dir / f"generated_epoch_{epoch + 1:03d}.png"
        path = viz.save_figure(fig, path, close=True, show=self.show)
        if path is not None:
            self.paths.append(path)
