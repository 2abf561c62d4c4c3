"""Deep Embedded Clustering (DEC) and Improved DEC (IDEC) as Keras models.

DEC (Xie, Girshick and Farhadi, 2016, "Unsupervised Deep Embedding for Clustering
Analysis") fine-tunes a pretrained encoder together with cluster centres so that the
soft assignments `q` (a Student's t kernel, see `ClusteringLayer`) match a sharpened
target `p` computed from `q` itself. IDEC (Guo, Gao, Liu and Yin, 2017, "Improved
Deep Embedded Clustering with Local Structure Preservation") keeps the decoder and
its reconstruction loss during that phase so that the codes keep the data's local
structure. With an `augmentation` layer both follow DEC-DA (Guo, Zhu, Liu and Yin,
2018, "Deep Embedded Clustering with Data Augmentation"): each training step sees
randomly shifted and rotated images, paired with the target `p` of the clean ones.

Both are plain Keras models: `predict` returns the soft assignments `q`, `fit` is
Keras' own and trains on batches `(images, p)`. The algorithm of the papers (k-means
initialisation, a refresh of `p` every `update_interval` steps, a stop once fewer
than a fraction `tol` of the labels change) is the callback
`keras_unsup.callbacks.TargetDistributionRefresh`, which also builds the training
data. The scikit-learn face is `keras_unsup.models.dec_clustering.DECClustering`.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_unsup.checks import check_int, check_number, replicas_in_sync
from keras_unsup.layers.clustering_layer import ClusteringLayer
from keras_unsup.models._serialization import SubModelConfig

_EPS = 1e-7


def _kl(p, q):
    """Batch mean of `KL(p || q)` over rows of soft assignments."""
    return ops.mean(ops.sum(p * (ops.log(ops.maximum(p, _EPS)) - ops.log(ops.maximum(q, _EPS))),
                            axis=-1))


@keras.saving.register_keras_serializable(package="keras_unsup")
class DEC(SubModelConfig, keras.Model):
    """Deep Embedded Clustering: an encoder and cluster centres trained together.

    Xie et al. (2016) minimise `KL(p || q)` between the soft assignments `q` of the
    codes to the centres and a target `p = target_distribution(q)` that is held fixed
    between refreshes. This model is that loss and nothing else: it trains on batches
    `(images, p)`, and `predict(x)` returns `q`, shape `(n, n_clusters)`. Use it with
    `TargetDistributionRefresh`, which initialises the centres by k-means on the codes,
    pairs the images with the current `p`, refreshes `p` every `update_interval` steps
    (one Keras epoch of its dataset) and stops training at `tol`.

    Any `fit` argument of Keras works (`epochs`, `callbacks` such as `BackupAndRestore`,
    `EarlyStopping` or `TerminateOnNaN`, `verbose`); the state a resumed run needs (the
    centres, whether they were initialised, the optimizer) is in the weights, so
    `BackupAndRestore` alone resumes it. The loss of each replica is scaled by the
    number of replicas in sync, so the model trains the same under
    `tf.distribute.MirroredStrategy` (build and compile it inside `strategy.scope()`).

    Args:
        encoder: a built Keras model mapping images to flat codes `(batch, code_dim)`,
            usually the encoder of a pretrained autoencoder.
        n_clusters: number of clusters, >= 2.
        alpha: degrees of freedom of the Student's t kernel (> 0; the paper's is 1).
        augmentation: a Keras layer applied (with `training=True`) to the images of
            every training step and never to `predict`'s, e.g.
            `RandomAffine(rotation=10, translation=0.1, seed=0)` for DEC-DA (Guo et
            al., 2018): the loss pairs the augmented images' `q` with the clean images'
            `p`. `TargetDistributionRefresh` reseeds it at every update interval
            (`reseed_augmentation`), so a resumed fit draws the transforms the
            uninterrupted one drew. `None`: no augmentation (DEC).
        **kwargs: standard `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: images of the encoder's input shape.
        training: passed to the encoder.

    Output shape: `(batch, n_clusters)`, rows of soft assignments that sum to 1.

    Example:

    >>> _, encoder, _ = build_dense_autoencoder(input_shape=(8, 8, 1), code_size=10)
    >>> dec = DEC(encoder, n_clusters=10)
    >>> dec.compile()  # the paper's SGD
    >>> refresh = TargetDistributionRefresh(x, update_interval=140, tol=1e-3, seed=0)
    >>> dec.fit(refresh.dataset(), epochs=20, callbacks=[refresh])
    >>> labels = dec.predict(x).argmax(axis=1)
    """

    sub_models = ("encoder", "augmentation")
    config_fields = ("n_clusters", "alpha")

    def __init__(self, encoder, n_clusters=10, *, alpha=1.0, augmentation=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise ValueError(  # noqa: TRY004 (the project reports bad arguments as ValueError)
                f"`encoder` must be a keras.Model. Received: encoder={encoder!r}")
        out_shape = encoder.output_shape
        if (isinstance(out_shape, list) or len(out_shape) != 2 or out_shape[-1] is None):
            raise ValueError(
                "`encoder` must have one output of shape (batch, code_dim). "
                f"Received: encoder.output_shape={out_shape}"
            )
        if augmentation is not None and not isinstance(augmentation, keras.layers.Layer):
            raise ValueError(  # noqa: TRY004
                "`augmentation` must be a Keras layer (or None). "
                f"Received: augmentation={augmentation!r}")
        self.augmentation = augmentation
        self.n_clusters = check_int(n_clusters, "n_clusters", 2)
        self.alpha = check_number(alpha, "alpha", 0.0, low_open=True)
        self.encoder = encoder
        self.code_dim = int(out_shape[-1])
        self.clustering = ClusteringLayer(self.n_clusters, alpha=self.alpha, name="clustering")
        self.clustering.build((None, self.code_dim))
        # 1 once the centres hold k-means' (or were set): saved with the weights, so a
        # model restored by BackupAndRestore or loaded from .keras skips the k-means.
        self.initialized = self.add_weight(name="initialized", shape=(), initializer="zeros",
                                           trainable=False)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def input_image_shape(self):
        """Shape of one input image, as the encoder expects it."""
        return tuple(self.encoder.input_shape[1:])

    @property
    def centers_initialized(self):
        """Whether the centres were initialised (by `init_centers` or `set_centers`)."""
        return bool(ops.convert_to_numpy(self.initialized) > 0)

    @property
    def cluster_centers(self):
        """The centres as a NumPy array `(n_clusters, code_dim)`."""
        return ops.convert_to_numpy(self.clustering.centers)

    def call(self, inputs, training=False):
        return self.clustering(self.encoder(inputs, training=training))

    @property
    def metrics(self):
        return [self.loss_tracker]

    def compile(self, optimizer=None, **kwargs):
        """Keras' `compile`; `optimizer=None` takes the paper's (`default_optimizer`).

        The optimizer is built at once: a lazy build inside a replica context leaves
        the replicas with different slot lists under MirroredStrategy (seen with Adam),
        and `BackupAndRestore` needs the slots to restore them.
        """
        super().compile(optimizer=self.default_optimizer() if optimizer is None else optimizer,
                        **kwargs)
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # Keras skips a custom `compile` when loading; this one takes Keras' arguments.
        self.compile(**keras.saving.deserialize_keras_object(config))

    def default_optimizer(self):
        """SGD with learning rate 0.01 and momentum 0.9, as in the DEC paper."""
        return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)

    # --- the centres --------------------------------------------------------------------

    def set_centers(self, centers):
        """Sets the centres `(n_clusters, code_dim)` and marks them initialised."""
        self.clustering.set_centers(centers)
        self.initialized.assign(1.0)

    def init_centers(self, x, *, n_init=20, seed=None, batch_size=1024):
        """Initialises the centres by k-means on the codes of `x` (the papers' start).

        Args:
            x: images of the encoder's input shape, `(n, height, width, channels)`.
            n_init: k-means restarts (the best inertia wins).
            seed: seed of k-means (`None`: unseeded).
            batch_size: images per encoder call.

        Returns:
            k-means' labels of `x`, shape `(n,)`; they equal `predict(x).argmax(1)`
            right after this call, since `q` is largest for the nearest centre.
        """
        from sklearn.cluster import KMeans

        from keras_unsup.checks import check_image_array, check_seed

        x = check_image_array(x, "x", self.input_image_shape)
        n_init = check_int(n_init, "n_init", 1)
        seed = check_seed(seed)
        if self.n_clusters > len(x):
            raise ValueError(f"`n_clusters` must be <= the number of images (n_samples="
                             f"{len(x)}). Received: n_clusters={self.n_clusters}")
        codes = np.asarray(self.encoder.predict(x, batch_size=batch_size, verbose=0), np.float64)
        if not np.all(np.isfinite(codes)):
            raise ValueError("The encoder's codes of `x` hold NaN or infinity; "
                             "check the encoder's weights.")
        kmeans = KMeans(self.n_clusters, n_init=n_init, random_state=seed)
        labels = kmeans.fit_predict(codes)
        self.set_centers(kmeans.cluster_centers_)
        return labels

    def reseed_augmentation(self, seed, epoch):
        """Sets the augmentation's random state from `(seed, epoch)` alone.

        Keras saves no random state with the weights (neither `BackupAndRestore` nor
        `.keras` files hold a `SeedGenerator`'s), so the draws of an update interval are
        made a function of the run's seed and the interval's number instead: a resumed
        fit then augments its batches as the uninterrupted one did. Does nothing
        without an augmentation that holds a `seed_generator`.
        """
        generator = getattr(self.augmentation, "seed_generator", None)
        if generator is not None:
            generator.state.assign(np.asarray([int(seed) * 1_000_003 + int(epoch), 0],
                                              dtype=generator.state.dtype))

    # --- training -----------------------------------------------------------------------

    def _unpack(self, data):
        x, p, _ = keras.utils.unpack_x_y_sample_weight(data)
        if p is None:
            raise ValueError(
                f"{type(self).__name__} trains on pairs `(images, p)`, `p` the target "
                "distribution of the images, as `TargetDistributionRefresh.dataset()` "
                "yields them. Received: batches of images only")
        return x, p

    def _step_losses(self, x, p, training):
        return _kl(p, self(x, training=training)), {}

    def _update_metrics(self, loss, parts):
        for tracker in self.metrics:
            tracker.update_state(loss if tracker is self.loss_tracker else parts[tracker.name])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, p = self._unpack(data)
        if self.augmentation is not None:  # DEC-DA: augmented images, clean images' p
            x = self.augmentation(x, training=True)
        with tf.GradientTape() as tape:
            loss, parts = self._step_losses(x, p, training=True)
            # Gradients are summed over replicas: scale each replica's batch mean so the
            # sum is the global mean (the batches are full, so the shares are equal).
            scaled = loss / replicas_in_sync()
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update_metrics(loss, parts)

    def test_step(self, data):
        x, p = self._unpack(data)
        loss, parts = self._step_losses(x, p, training=False)
        return self._update_metrics(loss, parts)


@keras.saving.register_keras_serializable(package="keras_unsup")
class IDEC(DEC):
    """Improved DEC: DEC that keeps training the decoder to reconstruct its input.

    The loss of a step is `reconstruction_mse + gamma * KL(p || q)` (Guo et al., 2017,
    eq. 1, with their `gamma = 0.1`): the reconstruction term stops the clustering
    loss from distorting the code space. Everything else is as in `DEC`; the metrics
    are `loss`, `reconstruction_loss` and `clustering_loss`.

    Args:
        encoder: a built Keras model mapping images to codes `(batch, code_dim)`.
        decoder: a built Keras model mapping codes back to images of the encoder's
            input shape.
        n_clusters: number of clusters, >= 2.
        gamma: weight of the clustering loss against the reconstruction loss (> 0).
        **kwargs: `alpha`, `augmentation` (then the reconstruction target is the
            augmented image, as in ConvIDEC-DA) and the arguments of `keras.Model`.

    Example:

    >>> ae, encoder, decoder = build_dense_autoencoder(input_shape=(8, 8, 1))
    >>> idec = IDEC(encoder, decoder, n_clusters=10)
    >>> idec.compile()  # the paper's Adam
    >>> refresh = TargetDistributionRefresh(x, update_interval=140, seed=0)
    >>> idec.fit(refresh.dataset(), epochs=20, callbacks=[refresh])
    """

    sub_models = ("encoder", "decoder", "augmentation")
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
        self.gamma = check_number(gamma, "gamma", 0.0, low_open=True)
        self.decoder = decoder
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.clustering_tracker = keras.metrics.Mean(name="clustering_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.clustering_tracker]

    def _step_losses(self, x, p, training):
        z = self.encoder(x, training=training)
        kl = _kl(p, self.clustering(z))
        recon = self.decoder(z, training=training)
        mse = ops.mean(ops.square(ops.reshape(recon - x, (ops.shape(x)[0], -1))))
        return mse + self.gamma * kl, {"reconstruction_loss": mse, "clustering_loss": kl}

    def default_optimizer(self):
        """Adam with learning rate 1e-3, as in the IDEC paper."""
        return keras.optimizers.Adam(learning_rate=1e-3)
