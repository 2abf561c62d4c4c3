"""InfoGAN latent traversals: rows are categories, columns sweep one continuous code."""

from pathlib import Path

import keras
import numpy as np

from keras_unsup.checks import check_bool, check_positive_int


def latent_traversal_figure(model, code=0, values=None, seed=0):
    """The traversal figure of an `InfoGAN`.

    Row `k` shows category `k`; column `j` sets continuous code `code` to
    `values[j]` (default: 9 values from -2 to 2, beyond the training range [-1, 1]
    as in the InfoGAN paper); the other codes are 0 and all images share one noise
    vector drawn with `seed`.

    Args:
        model: an `InfoGAN` with at least one continuous code.
        code: index of the continuous code to sweep.
        values: the values swept.
        seed: seed of the shared noise.

    Returns:
        A matplotlib `Figure` (`n_categories` rows, `len(values)` columns).

    Example:

    >>> fig = latent_traversal_figure(infogan, code=1)  # doctest: +SKIP
    """
    from keras_unsup import viz

    if not hasattr(model, "traversal_latent"):
        raise ValueError(
            "`model` must be an InfoGAN (with `traversal_latent`). Received: "
            f"model of type {type(model).__name__}"
        )
    values = np.linspace(-2.0, 2.0, 9) if values is None else np.asarray(values, np.float32)
    latent = model.traversal_latent(code=code, values=values, seed=seed)
    images = model.generate(latent=latent)
    ncols = len(values)
    titles = [
        f"{v:+.1f}" if i < ncols else "" for i, v in enumerate(np.tile(values, model.n_categories))
    ]
    fig = viz.image_grid(
        images,
        nrows=model.n_categories,
        ncols=ncols,
        titles=titles,
        row_labels=[f"c={k}" for k in range(model.n_categories)],
    )
    fig.suptitle(f"Continuous code {code} from {values[0]:+.1f} to {values[-1]:+.1f}", fontsize=10)
    return fig


class LatentTraversal(keras.callbacks.Callback):
    """Draws an InfoGAN's latent traversal for each continuous code every `every` epochs.

    Files are `output_dir/traversal_code{code}_epoch_{epoch:03d}.png`; see
    `latent_traversal_figure` for the layout. With neither `output_dir` nor `show`
    the callback does nothing.

    Args:
        codes: indices of the continuous codes to sweep (`None`: all of them).
        values: the values swept (default: 9 from -2 to 2).
        seed: seed of the shared noise.
        output_dir: folder for the PNG files, or `None`.
        every: draw every `every`-th epoch.
        show: display the figures in the notebook's output (needs IPython).

    Attributes:
        paths: files written so far.
    """

    def __init__(self, codes=None, values=None, seed=0, output_dir=None, every=1, show=False):
        super().__init__()
        if codes is not None:
            codes = [codes] if isinstance(codes, (int, np.integer)) else list(codes)
            if not codes or any(
                isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0 for c in codes
            ):
                raise ValueError(
                    f"`codes` must be None or non-negative integers. Received: codes={codes!r}"
                )
        self.codes = codes
        self.values = values
        self.seed = seed
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.every = check_positive_int(every, "every")
        self.show = check_bool(show, "show")
        self.paths = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or (self.output_dir is None and not self.show):
            return
        from keras_unsup import viz

        codes = self.codes if self.codes is not None else range(self.model.n_continuous)
        for code in codes:
            fig = latent_traversal_figure(self.model, code=code, values=self.values, seed=self.seed)
            path = None
            if self.output_dir is not None:
                path = self.output_dir / f"traversal_code{code}_epoch_{epoch + 1:03d}.png"
            path = viz.save_figure(fig, path, close=True, show=self.show)
            if path is not None:
                self.paths.append(path)
