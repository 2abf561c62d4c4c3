"""Keras `fit` as every recipe runs it: resumable, timed, with early stopping.

Resuming is one mechanism for every method: Keras' `BackupAndRestore` (the weights
and optimizer state after each finished epoch) plus the run folder's run-state file
(`RunDir.read_state`), where each fit of a run records, per finished epoch, its logs,
its wall time and the optimizer steps taken, and once it ends, that it is done (its
final weights saved beside the backup). A rerun into the same folder therefore
- trains only the epochs that did not finish (an interruption loses at most the epoch
  in flight),
- trains nothing for a fit that had finished, even when the interruption came later
  (evaluation, plotting, saving): the final weights are loaded and the recorded history
  is returned, so the metrics are those of the uninterrupted run,
- starts a fit afresh when what it depends on changed (its `key`), e.g. DEC after the
  autoencoder it starts from was trained further.
"""

import os
import shutil
import time

import keras

from keras_unsup import _interrupt
from keras_unsup.recipes.base import _jsonable, quiet_keras_saving


class InterruptCheck(keras.callbacks.Callback):
    """Stops the fit at the end of a batch when Ctrl-C or SIGTERM came during it.

    The command line's signal handler (`keras_unsup._interrupt`) does not raise inside
    TensorFlow's code, where a train step spends nearly all its time; this is where the
    request is raised instead, between two steps.
    """

    def on_train_batch_end(self, batch, logs=None):
        _interrupt.raise_if_requested()

    def on_test_batch_end(self, batch, logs=None):
        _interrupt.raise_if_requested()

    def on_predict_batch_end(self, batch, logs=None):
        _interrupt.raise_if_requested()


class Throughput(keras.callbacks.Callback):
    """Records the wall time of each epoch; `images_per_second` is their median rate."""

    def __init__(self, n_images, epoch_seconds=()):
        super().__init__()
        self.n_images = int(n_images)
        self.epoch_seconds = list(epoch_seconds)

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


class RunStateLogger(keras.callbacks.Callback):
    """Writes each finished epoch of a fit into the run-state file (after the backup).

    Args:
        run: the `RunDir`.
        name: the fit's name in the run state (`fits[name]`).
        throughput: the fit's `Throughput` callback (its epoch times are recorded).
    """

    def __init__(self, run, name, throughput):
        super().__init__()
        self.run = run
        self.name = name
        self.throughput = throughput

    def on_epoch_end(self, epoch, logs=None):
        fits = self.run.read_state().get("fits", {})
        entry = fits.get(self.name, {})
        history = entry.get("history", {})
        for key, value in (logs or {}).items():
            history.setdefault(key, []).append(float(value))
        entry.update(history=history, epochs_done=epoch + 1,
                     epoch_seconds=list(self.throughput.epoch_seconds),
                     optimizer_steps=_optimizer_steps(self.model))
        fits[self.name] = entry
        self.run.update_state(fits=fits)


def _optimizer_steps(model):
    """Updates made by the model's optimizers (a GAN has two: both are counted)."""
    optimizers = []
    for attr in ("optimizer", "g_optimizer", "d_optimizer"):
        optimizer = getattr(model, attr, None)
        if hasattr(optimizer, "iterations") and all(optimizer is not o for o in optimizers):
            optimizers.append(optimizer)
    if not optimizers:
        return None
    # `.value.numpy()`: NumPy 2 warns on np.array(variable), and `int()` refuses the
    # mirrored variable a tf.distribute strategy gives.
    return sum(int(o.iterations.value.numpy()) for o in optimizers)


def _history(entry):
    history = keras.callbacks.History()
    history.history = {k: list(v) for k, v in entry.get("history", {}).items()}
    history.epoch = list(range(int(entry.get("epochs_done", 0))))
    return history


def fit(model, train_ds, *, epochs, run, n_images, validation_data=None, patience=None,
        monitor="val_loss", callbacks=(), verbose=1, name="fit", key=None, steps_per_epoch=None):
    """Fits `model` with resuming, timing and (optionally) early stopping.

    Args:
        model: a compiled Keras model.
        train_ds: training data (a `tf.data.Dataset`).
        epochs: epochs to train in all; a resumed run trains only the rest.
        run: the `RunDir`; with a folder, a backup is written after every epoch and a
            rerun into the same folder resumes from the last finished epoch (or skips a
            finished fit).
        n_images: images per epoch, for the throughput figure.
        validation_data: held-out data for early stopping.
        patience: epochs without improvement of `monitor` before stopping (`None`:
            no early stopping). The best weights are restored.
        monitor: the quantity early stopping watches.
        callbacks: further callbacks.
        verbose: Keras' progress bar setting.
        name: the fit's name in the run (a run may fit several models, e.g. DEC's
            pretraining and DEC itself).
        key: what the fit depends on (JSON-able); a saved state with another key is
            dropped and the fit starts afresh.
        steps_per_epoch: passed to Keras (for repeated datasets).

    Returns:
        `(history, throughput)`: a Keras `History` holding every epoch of the fit
        (also those trained before a resume) and the `Throughput` callback. The
        history's `steps_this_call` attribute counts the optimizer steps trained by
        this call (0 when a finished fit was reused).
    """
    throughput = Throughput(n_images)
    cbs = [throughput, InterruptCheck(), *callbacks]
    if patience is not None and validation_data is not None:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                                 restore_best_weights=True))
    if not run:
        before = _optimizer_steps(model) or 0
        history = model.fit(train_ds, epochs=epochs, validation_data=validation_data,
                            callbacks=cbs, verbose=verbose, steps_per_epoch=steps_per_epoch,
                            shuffle=False)
        history.steps_this_call = (_optimizer_steps(model) or 0) - before
        return history, throughput

    backup_dir = run.checkpoint_dir / name
    final_weights = backup_dir / "final.weights.h5"
    fits = run.read_state().get("fits", {})
    entry = fits.get(name, {})
    wanted = {"epochs": int(epochs), "key": _jsonable(key)}
    if entry and entry.get("key") != wanted["key"]:
        # What this fit started from has changed: its backup belongs to another fit.
        shutil.rmtree(backup_dir, ignore_errors=True)
        entry = {}
    throughput.epoch_seconds = list(entry.get("epoch_seconds", ()))
    if entry.get("done") and entry.get("epochs") == wanted["epochs"] and final_weights.is_file():
        _ensure_built(model)
        model.load_weights(final_weights)
        history = _history(entry)
        history.steps_this_call = 0
        return history, throughput
    # A finished fit asked for more epochs trains on from its last backup.
    entry.update(wanted, done=False)
    fits[name] = entry
    run.update_state(fits=fits, phase=f"training {name}")
    before = entry.get("optimizer_steps") or 0
    # The backup is kept after training (delete_checkpoint=False): the run state says the
    # fit is done, and a run interrupted in a later phase resumes without training again.
    cbs.append(keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False))
    cbs.append(RunStateLogger(run, name, throughput))
    # shuffle=False: our tf.data pipelines reshuffle every epoch themselves (and Keras
    # warns about its own default for a dataset).
    with quiet_keras_saving():  # BackupAndRestore saves weights after every epoch
        model.fit(train_ds, epochs=epochs, validation_data=validation_data, callbacks=cbs,
                  verbose=verbose, steps_per_epoch=steps_per_epoch, shuffle=False)
        backup_dir.mkdir(parents=True, exist_ok=True)
        tmp = backup_dir / ".final.tmp.weights.h5"
        model.save_weights(tmp)
    os.replace(tmp, final_weights)
    fits = run.read_state().get("fits", {})
    entry = fits.get(name, entry)
    entry.update(wanted, done=True, optimizer_steps=_optimizer_steps(model))
    fits[name] = entry
    run.update_state(fits=fits)
    history = _history(entry)
    history.steps_this_call = (entry["optimizer_steps"] or 0) - before
    return history, throughput


def _ensure_built(model):
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
