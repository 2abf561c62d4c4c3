"""`ReconstructionGrid`: originals over an autoencoder's reconstructions, per epoch."""

from pathlib import Path

import keras
import numpy as np

from keras_unsup import viz
from keras_unsup.checks import check_bool, check_positive_int


def _first_output(outputs):
    # Multi-output models (a VAE encoder's [z_mean, z_log_var, z], say) are
    # represented by their first output.
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return keras.ops.convert_to_numpy(outputs)


class ReconstructionGrid(keras.callbacks.Callback):
    """Draws fixed images over the model's reconstructions every `every` epochs.

    The figure has a row of originals, a row of noisy inputs when `noise` is given
    (denoising autoencoders) and a row of reconstructions. It is saved as
    `output_dir/reconstructions_epoch_{epoch:03d}.png` (epochs counted from 1) and/or
    shown in the notebook's output. With neither `output_dir` nor `show` the
    callback does nothing.

    Args:
        images: array of shape `(m, height, width, channels)` in [0, 1]; the first
            `n` are drawn, the same ones at every epoch.
        output_dir: folder for the PNG files (created when missing); `None` saves
            nothing.
        every: draw at the end of every `every`-th epoch.
        show: display the figure inline (needs IPython, i.e. a notebook).
        noise: optional callable (e.g. a `SaltAndPepper` layer) that corrupts the
            images before they are fed to the model; applied once, so every epoch
            sees the same noisy inputs. Keras layers are called with
            `training=True`.
        n: how many images to draw.

    Attributes:
        paths: the files written so far.

    Example:

    >>> callback = ReconstructionGrid(x_test[:10], output_dir="run/figures")
    >>> autoencoder.fit(x_train, x_train, epochs=5, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, images, output_dir=None, every=1, show=False, noise=None, n=10):
        super().__init__()
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(
                "`images` must have rank 4, shape (n, height, width, channels). "
                f"Received: images.shape={images.shape}"
            )
        if len(images) == 0:
            raise ValueError(
                f"`images` must hold at least one image. Received: images.shape={images.shape}"
            )
        check_positive_int(n, "n")
        check_positive_int(every, "every")
        if noise is not None and not callable(noise):
            raise ValueError(
                "`noise` must be a callable (e.g. a Keras layer) or None. "
                f"Received: noise={noise!r}"
            )
        check_bool(show, "show")
        self.images = images[:n].astype(np.float32)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.every = int(every)
        self.show = bool(show)
        self.noise = noise
        self.n = int(n)
        self.paths = []
        self._noisy = None

    def _noisy_images(self):
        if self.noise is None:
            return None
        if self._noisy is None:
            if isinstance(self.noise, keras.layers.Layer):
                noisy = self.noise(self.images, training=True)
            else:
                noisy = self.noise(self.images)
            self._noisy = keras.ops.convert_to_numpy(noisy).astype(np.float32)
        return self._noisy

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every != 0:
            return
        if self.output_dir is None and not self.show:
            return
        noisy = self._noisy_images()
        inputs = self.images if noisy is None else noisy
        reconstructions = _first_output(self.model.predict(inputs, verbose=0))
        fig = viz.plot_reconstructions(self.images, reconstructions, n=self.n, noisy=noisy)
        fig.suptitle(f"Epoch {epoch + 1}", fontsize=10)
        path = None
        if self.output_dir is not None:
            path = self.output_dir / f"reconstructions_epoch_{epoch + 1:03d}.png"
        path = viz.save_figure(fig, path, close=True, show=self.show)
        if path is not None:
            self.paths.append(path)
