"""Pieces several recipe families share: autoencoder pretraining and code extraction."""

import keras
import numpy as np

from keras_unsup.data.pipeline import autoencoder_dataset
from keras_unsup.recipes import training


def encode(encoder, x, batch_size=1024):
    """Codes of `x` as a float32 NumPy array, computed in batches."""
    return np.asarray(encoder.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


def pretrain_autoencoder(x, *, builder=None, epochs, batch_size=256, seed=0, run=None,
                         verbose=1, learning_rate=1e-3, validation_x=None, patience=None,
                         callbacks=(), **builder_kwargs):
    """Builds an autoencoder for `x`'s image shape and trains it to reconstruct `x`.

    Args:
        x: training images `(n, h, w, c)` in [0, 1].
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
        **builder_kwargs: passed to the builder (e.g. `code_size=10`).

    Returns:
        `(autoencoder, encoder, decoder, throughput)`.
    """
    if builder is None:
        from keras_unsup.builders.autoencoder import build_dense_autoencoder as builder
    autoencoder, encoder, decoder = builder(input_shape=tuple(x.shape[1:]), **builder_kwargs)
    # No jit_compile: runs enable op determinism (same seed, same metrics), which XLA lacks.
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    train_ds = autoencoder_dataset(x, batch_size, seed=seed)
    val_ds = None
    if validation_x is not None:
        val_ds = autoencoder_dataset(validation_x, 1024, shuffle=False)
    _, throughput = training.fit(autoencoder, train_ds, epochs=epochs, run=run, n_images=len(x),
                                 validation_data=val_ds, patience=patience,
                                 callbacks=callbacks, verbose=verbose)
    return autoencoder, encoder, decoder, throughput
