"""Keras `fit` as every recipe runs it: resumable, timed, with early stopping."""

import time

import keras


class Throughput(keras.callbacks.Callback):
    """Records the wall time of each epoch; `images_per_second` is their median rate."""

    def __init__(self, n_images):
        super().__init__()
        self.n_images = int(n_images)
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)

    @property
    def images_per_second(self):
        import numpy as np

        if not self.epoch_seconds:
            return None
        # The first epoch carries tracing and compilation; leave it out when we can.
        seconds = self.epoch_seconds[1:] or self.epoch_seconds
        return float(self.n_images / np.median(seconds))


def fit(model, train_ds, *, epochs, run, n_images, validation_data=None, patience=None,
        monitor="val_loss", callbacks=(), verbose=1):
    """Fits `model` with resuming, timing and (optionally) early stopping.

    Args:
        model: a compiled Keras model.
        train_ds: training data (a `tf.data.Dataset`).
        epochs: epochs to train in all; a resumed run trains only the rest.
        run: the `RunDir`; with a folder, a backup is written after every epoch and a
            rerun into the same folder resumes from the last finished epoch.
        n_images: images per epoch, for the throughput figure.
        validation_data: held-out data for early stopping.
        patience: epochs without improvement of `monitor` before stopping (`None`:
            no early stopping). The best weights are restored.
        callbacks: further callbacks.
        verbose: Keras' progress bar setting.

    Returns:
        `(history, throughput)`: Keras' `History` and the `Throughput` callback.
    """
    throughput = Throughput(n_images)
    cbs = [throughput, *callbacks]
    if patience is not None and validation_data is not None:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                                 restore_best_weights=True))
    if run:
        cbs.append(keras.callbacks.BackupAndRestore(str(run.checkpoint_dir / "fit")))
    # shuffle=False: the tf.data pipeline already reshuffles every epoch
    history = model.fit(train_ds, epochs=epochs, validation_data=validation_data, shuffle=False,
                        callbacks=cbs, verbose=verbose)
    return history, throughput
