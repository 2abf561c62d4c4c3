"""The self-training loop of DEC and IDEC, as a Keras callback and its training data."""

import keras
import numpy as np
import tensorflow as tf

from keras_unsup.checks import (
    check_choice,
    check_image_array,
    check_int,
    check_number,
    check_positive_int,
    check_seed,
)
from keras_unsup.layers.clustering_layer import target_distribution


class TargetDistributionRefresh(keras.callbacks.Callback):
    """Refreshes DEC's target distribution `p` every `update_interval` steps; stops at `tol`.

    This is the training loop of Xie et al. (2016, DEC) and Guo et al. (2017, IDEC)
    around Keras' `fit`: `dataset()` yields `update_interval` batches `(images, p)`
    per pass, so one Keras epoch is one update interval. At the first epoch the
    callback initialises the model's centres by k-means on the codes (unless they
    already are, e.g. restored by `BackupAndRestore`) and computes `p` from the soft
    assignments `q` of all of `x`. After every epoch it computes `q` again, refreshes
    `p = target_distribution(q)`, records the fraction of hard labels that changed
    since the previous refresh (`delta_label`, also added to the epoch's logs) and sets
    `model.stop_training` once that fraction is below `tol`.

    Everything it needs at the start of a fit is recomputed from the model's weights,
    so a run resumed by `BackupAndRestore` goes on exactly as the uninterrupted run:
    the batches of epoch `e` are drawn from `seed` and `e` alone, and `p` and the
    previous labels come from the restored weights. A model with an augmentation
    (DEC-DA) is reseeded from `seed` and the epoch too (`DEC.reseed_augmentation`).
    Pass `epochs` to `fit` (the most update intervals), not `steps_per_epoch`.

    `x` may also be a streamed dataset (a `FolderDataset`, `data.is_streaming`): then
    no image is held whole. The batches of an epoch are the same seeded draw of
    indices, each image decoded from its file (`data.image_reader(split)`) and paired
    with its row of `p`; `q` and the codes of the k-means start are computed batch by
    batch over `data.stream(split)` (`data.encode`), so only they are held.

    Args:
        x: the training images, `(n, height, width, channels)`, or a streamed dataset
            whose `split` are the training images.
        update_interval: training steps between two refreshes of `p`.
        batch_size: images per training step; with `tf.distribute`, the global batch.
        tol: stop when fewer than this fraction of the labels changed (in [0, 1]; 0
            never stops).
        n_init: k-means restarts of the centre initialisation.
        seed: seed of k-means and of the batch order (`None`: unseeded).
        predict_batch_size: images per call when `q` is computed.
        verbose: 1 prints one line per refresh.
        split: with a streamed dataset, which split it trains on (`"train"`, `"test"`
            or `"all"`, train then test as `x_all` orders them); unused for an array.

    Attributes:
        history: one dict per refresh after an epoch of the last fit (`epoch`,
            `iteration` (optimizer steps so far), `delta_label` and the epoch's logs);
            a resumed fit records the epochs it trains (Keras' `History` and the
            recipes' run state keep `delta_label` with the other logs).
        labels: the hard labels of `x` (of its `split`) at the last refresh, `(n,)`.
        initial_labels: k-means' labels of the codes when this fit initialised the
            centres (`None` when they already were, e.g. restored by a resume).
        converged: whether `tol` stopped the last fit.

    Example:

    >>> refresh = TargetDistributionRefresh(x, update_interval=140, tol=1e-3, seed=0)
    >>> dec.fit(refresh.dataset(), epochs=36, callbacks=[refresh, BackupAndRestore(d)])
    >>> refresh.converged, refresh.history[-1]["delta_label"]
    """

    def __init__(self, x, *, update_interval=140, batch_size=256, tol=1e-3, n_init=20,
                 seed=None, predict_batch_size=1024, verbose=0, split="all"):
        super().__init__()
        if getattr(x, "is_streaming", False):
            self.data, self.x = x, None
            self.split = check_choice(split, "split", ("train", "test", "all"))
            n = int(x.split_size(self.split))
            if n < 1:
                raise ValueError(f"`x` must hold at least one image in its {self.split!r} "
                                 f"split. Received: an empty split of {x.name!r}")
        else:
            self.data, self.split = None, None
            self.x = check_image_array(x, "x")
            n = len(self.x)
        self._n = n
        self.update_interval = check_positive_int(update_interval, "update_interval")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.tol = check_number(tol, "tol", 0.0, 1.0)
        self.n_init = check_positive_int(n_init, "n_init")
        self.seed = check_seed(seed)
        self.predict_batch_size = check_positive_int(predict_batch_size, "predict_batch_size")
        self.verbose = check_int(verbose, "verbose", 0)
        # Without a seed, one random seed per callback: its epochs still differ.
        self._order_seed = self.seed if self.seed is not None \
            else int(np.random.default_rng().integers(2**31))
        # Read by the training data when each epoch's iterator starts, i.e. after
        # `on_epoch_begin`: so no batch is ever paired with a stale `p`.
        self._target = tf.Variable(tf.zeros((n, 0)), shape=tf.TensorShape([n, None]),
                                   trainable=False, name="dec_target")
        self._order = tf.Variable(tf.zeros(self.update_interval * self.batch_size, tf.int64),
                                  trainable=False, name="dec_batch_order")
        self.history = []
        self.labels = None
        self.initial_labels = None
        self.converged = False
        self._started = False
        self._refreshed_at = None

    # --- the training data --------------------------------------------------------------

    def dataset(self):
        """Batches `(images, p)`: `update_interval` of them per pass (one Keras epoch)."""
        if self.data is not None:
            return self._streamed_dataset()
        x = tf.constant(self.x)
        target, order, size = self._target, self._order, self.batch_size

        def batch(step):
            idx = order[step * size:(step + 1) * size]
            return tf.gather(x, idx), tf.gather(target, idx)

        return tf.data.Dataset.range(self.update_interval).map(batch).prefetch(tf.data.AUTOTUNE)

    def _streamed_dataset(self):
        # The same draw of indices as in memory; each image is decoded from its file
        # (in parallel, in order) and each batch gathers its rows of `p`.
        read = self.data.image_reader(self.split)
        target, order = self._target, self._order
        autotune = tf.data.AUTOTUNE

        def image(step):
            index = order[step]
            return read(index), index

        def pair(images, index):
            return images, tf.gather(target, index)

        ds = tf.data.Dataset.range(self.update_interval * self.batch_size)
        ds = ds.map(image, num_parallel_calls=autotune, deterministic=True)
        ds = ds.batch(self.batch_size, drop_remainder=True).map(pair)
        return ds.prefetch(autotune)

    def _batch_order(self, epoch):
        # Whole permutations of the data, seeded by (seed, epoch) so that a resumed run
        # draws the batches the uninterrupted one drew.
        n = self._n
        rng = np.random.default_rng([self._order_seed, int(epoch)])
        need = self.update_interval * self.batch_size
        order = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])
        return order[:need].astype(np.int64)

    # --- refreshes ----------------------------------------------------------------------

    @property
    def target(self):
        """The current target distribution `p` of `x`, shape `(n, n_clusters)`."""
        return np.asarray(self._target.numpy())

    def _refresh(self):
        if self.data is not None:
            q = self.data.encode(self.model, self.split, batch_size=self.predict_batch_size)
        else:
            q = np.asarray(self.model.predict(self.x, batch_size=self.predict_batch_size,
                                              verbose=0))
        labels = q.argmax(axis=1)
        delta = None if self.labels is None else float(np.mean(labels != self.labels))
        self._target.assign(target_distribution(q))
        self.labels = labels
        self._refreshed_at = self._steps()
        return delta

    def _steps(self):
        return int(self.model.optimizer.iterations.numpy()) if self.model.optimizer else 0

    def _start(self):
        """The first epoch of a fit: centres, `p` and labels from the current weights."""
        self._started = True
        initialise = not self.model.centers_initialized
        if initialise:
            if self.data is not None:
                self._init_centers_from_stream()
            else:
                self.model.init_centers(self.x, n_init=self.n_init, seed=self.seed,
                                        batch_size=self.predict_batch_size)
        self._refresh()
        if initialise:  # q's labels right after the k-means start are k-means' own
            self.initial_labels = self.labels

    def _init_centers_from_stream(self):
        """`DEC.init_centers` on a stream: k-means on the codes, encoded batch by batch."""
        from sklearn.cluster import KMeans

        k = self.model.n_clusters
        if k > self._n:
            raise ValueError(f"`n_clusters` must be <= the number of images (n_samples="
                             f"{self._n}). Received: n_clusters={k}")
        codes = np.asarray(self.data.encode(self.model.encoder, self.split,
                                            batch_size=self.predict_batch_size), np.float64)
        if not np.all(np.isfinite(codes)):
            raise ValueError("The encoder's codes of `x` hold NaN or infinity; "
                             "check the encoder's weights.")
        kmeans = KMeans(k, n_init=self.n_init, random_state=self.seed)
        kmeans.fit(codes)
        self.model.set_centers(kmeans.cluster_centers_)

    def on_train_begin(self, logs=None):
        # The weights may still be restored by BackupAndRestore after this: wait for
        # the first epoch before reading them.
        self._started = False
        self.converged = False
        self.labels = None
        self.initial_labels = None
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self._start()
        self._order.assign(self._batch_order(epoch))
        reseed = getattr(self.model, "reseed_augmentation", None)
        if reseed is not None:  # DEC-DA: the interval's transforms from (seed, epoch) too
            reseed(self._order_seed, epoch)

    def on_epoch_end(self, epoch, logs=None):
        delta = self._refresh()
        entry = {"epoch": int(epoch), "iteration": self._refreshed_at, "delta_label": delta}
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0:
                entry[key] = float(value)
        self.history.append(entry)
        if logs is not None:
            logs["delta_label"] = delta
        if self.verbose:
            keras.utils.io_utils.print_msg(
                f"DEC step {self._refreshed_at}: {delta:.2%} of labels changed")
        if delta < self.tol:
            self.converged = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if not self._started:  # no epoch ran (epochs=0, or a finished run resumed)
            self._start()
        elif self._refreshed_at != self._steps():  # stopped inside an epoch
            self._refresh()
