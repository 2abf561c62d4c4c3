"""Deep Embedded Clustering (DEC) and Improved DEC (IDEC) with a scikit-learn surface.

DEC (Xie, Girshick and Farhadi, 2016) fine-tunes a pretrained encoder together with
cluster centres so that the soft assignments `q` (a Student's t kernel, see
`ClusteringLayer`) match a sharpened target `p` computed from `q` itself. IDEC
(Guo, Gao, Liu and Yin, 2017) keeps the decoder and its reconstruction loss during
that phase so that the codes keep the data's local structure.

The models are `keras.Model`s (their `train_step` is Keras', distribution included:
build and fit them inside `tf.distribute.MirroredStrategy().scope()` to use several
devices) and also behave like scikit-learn clusterers: `fit(x)` returns the model,
`predict(x)` gives hard labels, `fit_predict`, `labels_` and `cluster_centers_`.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_unsup.layers.clustering_layer import ClusteringLayer, target_distribution
from keras_unsup.models._serialization import SubModelConfig

_EPS = 1e-7


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _not_fitted(method):
    from sklearn.exceptions import NotFittedError

    return NotFittedError(
        f"This model is not fitted yet: call `fit(x)` before `{method}`. "
        "(A model loaded from a .keras file of a fitted model is fitted.)"
    )


@keras.saving.register_keras_serializable(package="keras_unsup")
class DEC(SubModelConfig, keras.Model):
    """Deep Embedded Clustering: an encoder and cluster centres trained together.

    `fit(x)` runs the algorithm of the paper: codes of `x` are clustered by
    k-means, whose centres start the `ClusteringLayer`; then, every
    `update_interval` steps, the soft assignments `q` of all of `x` are computed,
    the target `p = target_distribution(q)` is refreshed and training stops once
    fewer than a fraction `tol` of the hard labels changed since the previous
    refresh (or after `max_iter` steps). Each step minimises `KL(p || q)` on a batch.

    Args:
        encoder: a built Keras model mapping images to flat codes `(batch, code_dim)`,
            usually the encoder of a pretrained autoencoder.
        n_clusters: number of clusters, >= 2.
        alpha: degrees of freedom of the Student's t kernel.
        update_interval: training steps between refreshes of the target distribution.
        tol: stop when the fraction of labels that changed between two refreshes is
            below `tol`.
        max_iter: the most training steps in all.
        batch_size: images per training step.
        n_init: k-means restarts of the centre initialisation.
        seed: seed of k-means and of the batch order.
        **kwargs: standard `keras.Model` arguments (`name`, ...).

    Attributes (after `fit`):
        labels_: hard cluster labels of the training images, shape `(n,)`.
        cluster_centers_: the centres, shape `(n_clusters, code_dim)`.
        n_iter_: training steps taken.
        converged_: whether the `tol` criterion stopped training.
        history_: one dict per refresh (`iteration`, `delta_label`, `loss`).

    Example:

    >>> _, encoder, _ = build_dense_autoencoder(input_shape=(8, 8, 1), code_size=10)
    >>> dec = DEC(encoder, n_clusters=10).fit(x)
    >>> dec.labels_.shape, dec.predict(x[:5]).shape
    ((1437,), (5,))
    """

    config_fields = ("n_clusters", "alpha", "update_interval", "tol", "max_iter", "batch_size",
                     "n_init", "seed")

    def __init__(self, encoder, n_clusters=10, *, alpha=1.0, update_interval=140, tol=1e-3,
                 max_iter=20000, batch_size=256, n_init=20, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise ValueError(  # noqa: TRY004 (the project reports bad arguments as ValueError)
                f"`encoder` must be a keras.Model. Received: encoder={encoder!r}")
        out_shape = tuple(encoder.output_shape) if not isinstance(encoder.output_shape, list) \
            else None
        if out_shape is None or len(out_shape) != 2 or out_shape[-1] is None:
            raise ValueError(
                "`encoder` must have one output of shape (batch, code_dim). "
                f"Received: encoder.output_shape={encoder.output_shape}"
            )
        self.n_clusters = _check_int("n_clusters", n_clusters, 2)
        self.update_interval = _check_int("update_interval", update_interval, 1)
        self.max_iter = _check_int("max_iter", max_iter, 0)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.n_init = _check_int("n_init", n_init, 1)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol <= 1:
            raise ValueError(f"`tol` must be a number in [0, 1]. Received: tol={tol!r}")
        if seed is not None:
            seed = _check_int("seed", seed, 0)
        self.tol = float(tol)
        self.alpha = float(alpha)
        self.seed = seed
        self.encoder = encoder
        self.code_dim = int(out_shape[-1])
        self.clustering = ClusteringLayer(self.n_clusters, alpha=self.alpha, name="clustering")
        self.clustering.build((None, self.code_dim))
        # Saved with the weights, so that a reloaded fitted model predicts at once.
        self.fitted = self.add_weight(name="fitted", shape=(), initializer="zeros",
                                      trainable=False)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.labels_ = None
        self.n_iter_ = 0
        self.converged_ = False
        self.history_ = []
        self.built = True

    # --- Keras ------------------------------------------------------------------------

    @property
    def input_image_shape(self):
        """Shape of one input image, as the encoder expects it."""
        return tuple(self.encoder.input_shape[1:])

    def call(self, inputs, training=False):
        return self.clustering(self.encoder(inputs, training=training))

    @property
    def metrics(self):
        return [self.loss_tracker]

    def _step_losses(self, x, p, training):
        q = self(x, training=training)
        kl = ops.mean(ops.sum(p * (ops.log(ops.maximum(p, _EPS))
                                   - ops.log(ops.maximum(q, _EPS))), axis=-1))
        return kl, {}

    def train_step(self, data):
        x, p = data
        with tf.GradientTape() as tape:
            loss, parts = self._step_losses(x, p, training=True)
            # Gradients are summed over replicas: scale each replica's batch mean so the
            # sum is the global mean (every batch is full, so replicas get equal shares).
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = loss / replicas
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        for tracker in self.metrics:
            tracker.update_state(loss if tracker is self.loss_tracker else parts[tracker.name])
        return {m.name: m.result() for m in self.metrics}

    def default_optimizer(self):
        """The optimizer `fit` compiles with when the model is not compiled (the paper's)."""
        return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)

    # --- scikit-learn surface ----------------------------------------------------------

    def _check_x(self, x, name="x"):
        x = np.asarray(x)
        expected = self.input_image_shape
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"`{name}` must have shape (n, {', '.join(str(d) for d in expected)}), "
                f"the input shape of the encoder. Received: {name}.shape={x.shape}"
            )
        if len(x) == 0:
            raise ValueError(f"`{name}` must hold at least one image. Received: {name}.shape={x.shape}")
        x = x.astype(np.float32, copy=False)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"`{name}` must hold only finite values; it holds NaN or infinity.")
        return x

    @property
    def is_fitted(self):
        return bool(ops.convert_to_numpy(self.fitted) > 0)

    @property
    def cluster_centers_(self):
        if not self.is_fitted:
            raise _not_fitted("cluster_centers_")
        return ops.convert_to_numpy(self.clustering.centers)

    def transform(self, x, batch_size=1024):
        """Codes of `x` from the encoder, shape `(n, code_dim)`."""
        x = self._check_x(x)
        return np.asarray(self.encoder.predict(x, batch_size=batch_size, verbose=0), np.float32)

    def predict_proba(self, x, batch_size=1024):
        """Soft assignments `q` of `x`, shape `(n, n_clusters)`; rows sum to 1."""
        x = self._check_x(x)
        if not self.is_fitted:
            raise _not_fitted("predict_proba")
        return np.asarray(super().predict(x, batch_size=batch_size, verbose=0), np.float32)

    def predict(self, x, batch_size=1024, **kwargs):
        """Hard cluster labels of `x`, shape `(n,)` (the argmax of `predict_proba`)."""
        return self.predict_proba(x, batch_size=batch_size).argmax(axis=1)

    def fit_predict(self, x, y=None, **kwargs):
        """`fit(x)` and the labels of `x`: the same as `fit(x).labels_`."""
        return self.fit(x, y, **kwargs).labels_

    def fit(self, x, y=None, *, verbose=0, checkpoint_dir=None):
        """Initialises the centres with k-means on the codes, then trains DEC on `x`.

        Args:
            x: images of the encoder's input shape, `(n, height, width, channels)`.
            y: ignored (scikit-learn's convention); labels never enter training.
            verbose: 1 prints one line per refresh of the target distribution.
            checkpoint_dir: a folder to write the training state to after every
                refresh; calling `fit` again with the same folder (and a model built
                the same way) resumes from the last state written there.

        Returns:
            The model itself, with `labels_`, `cluster_centers_`, `n_iter_` set.
        """
        x = self._check_x(x)
        n = len(x)
        if self.n_clusters > n:
            raise ValueError(
                f"`n_clusters` must be <= the number of samples ({n}). "
                f"Received: n_clusters={self.n_clusters}"
            )
        with self.distribute_strategy.scope():
            if not self.compiled:
                self.compile(optimizer=self.default_optimizer())
            # Built here, not lazily in the first step: a lazy build inside a replica
            # context leaves the replicas with different gradient lists under
            # MirroredStrategy (seen with Adam), and resuming needs the slots anyway.
            if not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)
        state_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        start, previous, history = self._restore(state_dir, n)
        if start is None:
            previous = self._init_centers(x)
            start, history = 0, []
            self._save_state(state_dir, 0, previous, history)
        x_tensor = tf.constant(x)
        iteration, converged = start, False
        while True:
            q = self.predict_proba(x)
            labels = q.argmax(axis=1)
            delta = float(np.mean(labels != previous))
            previous = labels
            history.append({"iteration": iteration, "delta_label": delta})
            if verbose:
                print(f"DEC iteration {iteration}: {delta:.2%} of labels changed")
            if iteration > 0 and delta < self.tol:
                converged = True
                break
            if iteration >= self.max_iter:
                break
            steps = min(self.update_interval, self.max_iter - iteration)
            logs = self._train_interval(x_tensor, target_distribution(q), iteration, steps)
            iteration += steps
            history[-1]["loss"] = float(logs["loss"])
            self._save_state(state_dir, iteration, labels, history)
        self.labels_ = labels
        self.n_iter_ = iteration
        self.converged_ = converged
        self.history_ = history
        return self

    # --- the pieces of fit ------------------------------------------------------------

    def _init_centers(self, x):
        from sklearn.cluster import KMeans

        codes = self.transform(x)
        if not np.all(np.isfinite(codes)):
            raise ValueError("The encoder's codes of `x` hold NaN or infinity; "
                             "check the encoder's weights.")
        kmeans = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.seed)
        labels = kmeans.fit_predict(codes.astype(np.float64))
        self.clustering.set_centers(kmeans.cluster_centers_)
        self.fitted.assign(1.0)
        return labels

    def _batch_indices(self, n, iteration, steps):
        # Seeded by (seed, iteration): a resumed run draws the batches it would have drawn.
        rng = np.random.default_rng([self.seed or 0, iteration])
        need = steps * self.batch_size
        order = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])
        return order[:need]

    def _train_interval(self, x_tensor, p, iteration, steps):
        n = int(x_tensor.shape[0])
        idx = self._batch_indices(n, iteration, steps)
        p_tensor = tf.constant(p)
        targets = self._targets

        ds = tf.data.Dataset.from_tensor_slices(idx).batch(self.batch_size)
        ds = ds.map(lambda i: targets(x_tensor, p_tensor, i),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        history = super().fit(ds.prefetch(tf.data.AUTOTUNE), epochs=1, verbose=0, shuffle=False)
        return {k: v[-1] for k, v in history.history.items()}

    @staticmethod
    def _targets(x_tensor, p_tensor, idx):
        return tf.gather(x_tensor, idx), tf.gather(p_tensor, idx)

    def _save_state(self, folder, iteration, labels, history):
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.save_weights(folder / "dec.weights.h5")
        np.save(folder / "dec_labels.npy", labels)
        tmp = folder / "dec_state.json.tmp"
        tmp.write_text(json.dumps({"iteration": iteration, "n": len(labels),
                                   "history": history}))
        tmp.replace(folder / "dec_state.json")

    def _restore(self, folder, n):
        if folder is None or not (folder / "dec_state.json").is_file():
            return None, None, None
        state = json.loads((folder / "dec_state.json").read_text())
        if state["n"] != n:
            raise ValueError(
                f"`checkpoint_dir` holds the state of a fit on {state['n']} images; `x` has {n}. "
                f"Received: checkpoint_dir={str(folder)!r}"
            )
        self.load_weights(folder / "dec.weights.h5")
        return state["iteration"], np.load(folder / "dec_labels.npy"), state["history"]


@keras.saving.register_keras_serializable(package="keras_unsup")
class IDEC(DEC):
    """Improved DEC: DEC that keeps training the decoder to reconstruct its input.

    The loss of a step is `reconstruction_mse + gamma * KL(p || q)` (Guo et al., 2017,
    eq. 1, with their `gamma = 0.1`): the reconstruction term stops the clustering
    loss from distorting the code space. Everything else is as in `DEC`.

    Args:
        encoder: a built Keras model mapping images to codes `(batch, code_dim)`.
        decoder: a built Keras model mapping codes back to images of the encoder's
            input shape.
        n_clusters: number of clusters, >= 2.
        gamma: weight of the clustering loss against the reconstruction loss (> 0).
        **kwargs: the other arguments of `DEC` (`alpha`, `update_interval`, `tol`,
            `max_iter`, `batch_size`, `n_init`, `seed`) and of `keras.Model`.

    Example:

    >>> ae, encoder, decoder = build_dense_autoencoder(input_shape=(8, 8, 1))
    >>> labels = IDEC(encoder, decoder, n_clusters=10).fit_predict(x)
    """

    sub_models = ("encoder", "decoder")
    config_fields = DEC.config_fields + ("gamma",)

    def __init__(self, encoder, decoder, n_clusters=10, *, gamma=0.1, **kwargs):
        super().__init__(encoder, n_clusters, **kwargs)
        if not isinstance(decoder, keras.Model):
            raise ValueError(  # noqa: TRY004
                f"`decoder` must be a keras.Model. Received: decoder={decoder!r}")
        if tuple(decoder.output_shape[1:]) != self.input_image_shape:
            raise ValueError(
                f"`decoder` must output images of the encoder's input shape "
                f"{self.input_image_shape}. Received: decoder.output_shape={decoder.output_shape}"
            )
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0:
            raise ValueError(f"`gamma` must be a number > 0. Received: gamma={gamma!r}")
        self.decoder = decoder
        self.gamma = float(gamma)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.clustering_tracker = keras.metrics.Mean(name="clustering_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.clustering_tracker]

    def _step_losses(self, x, p, training):
        z = self.encoder(x, training=training)
        q = self.clustering(z)
        recon = self.decoder(z, training=training)
        kl = ops.mean(ops.sum(p * (ops.log(ops.maximum(p, _EPS))
                                   - ops.log(ops.maximum(q, _EPS))), axis=-1))
        mse = ops.mean(ops.square(ops.reshape(recon - x, (ops.shape(x)[0], -1))))
        return mse + self.gamma * kl, {"reconstruction_loss": mse, "clustering_loss": kl}

    def default_optimizer(self):
        """Adam with learning rate 1e-3, as in the IDEC paper."""
        return keras.optimizers.Adam(learning_rate=1e-3)
