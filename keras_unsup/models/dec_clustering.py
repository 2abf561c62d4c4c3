"""DEC and IDEC for scikit-learn users: an estimator around the Keras models.

`DECClustering` pretrains a dense autoencoder on the data (unless it is given an
encoder), initialises the centres by k-means on the codes and runs the self-training
of DEC (Xie et al., 2016) or IDEC (Guo et al., 2017) with Keras' `fit` and
`TargetDistributionRefresh`. It is a scikit-learn clusterer: `__init__` only stores
the parameters, `fit(X)` validates them and returns the estimator, and `labels_`,
`cluster_centers_`, `predict`, `fit_predict`, `predict_proba` and `transform` follow
scikit-learn's conventions, so `clone`, `Pipeline` and grid searches work.
"""

import math

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from keras_unsup.checks import (
    check_choice,
    check_int,
    check_number,
    check_positive_int,
    check_units,
)

_PREDICT_BATCH = 1024


def _copy(model):
    """A copy of a Keras model with the same weights (the caller's stays untouched)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


class DECClustering(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin,
                    BaseEstimator):
    """Deep Embedded Clustering (or IDEC) with scikit-learn's clusterer interface.

    `fit(X)` follows the papers: a dense autoencoder (d-500-500-2000-10 by default,
    linear code and output) is pretrained to reconstruct `X`; k-means on its codes
    gives the initial centres; then the encoder and the centres are trained together
    to minimise `KL(p || q)` (Xie et al., 2016, DEC), plus the reconstruction error
    with `algorithm="idec"` (Guo et al., 2017, IDEC), the target `p` refreshed every
    `update_interval` steps until fewer than a fraction `tol` of the labels change.
    The trained Keras model (`DEC` or `IDEC`) is `model_`.

    Rows of `X` are samples. A 2-D `X` of shape `(n_samples, n_features)` is what
    scikit-learn passes; images `(n, height, width, channels)` are accepted too.
    Scaling matters as for k-means: standardise features, or keep pixels in [0, 1].

    Args:
        n_clusters: number of clusters, >= 2.
        algorithm: `"dec"` or `"idec"`.
        encoder: optional pretrained Keras encoder `(batch, ...) -> (batch, code_dim)`;
            it is copied, and no autoencoder is built or pretrained.
        decoder: the matching decoder, needed with `encoder` and `algorithm="idec"`.
        code_size: width of the autoencoder's code (without `encoder`).
        hidden_units: widths of its encoder's hidden layers (the decoder mirrors them).
        pretrain_epochs: epochs of the autoencoder's pretraining (0: none).
        pretrain_batch_size: samples per pretraining step.
        pretrain_learning_rate: Adam's learning rate of the pretraining.
        alpha: degrees of freedom of the Student's t kernel.
        gamma: IDEC's weight of the clustering loss against the reconstruction loss.
        update_interval: training steps between refreshes of the target distribution.
        tol: stop when fewer than this fraction of the labels changed between two
            refreshes (in [0, 1]).
        max_iter: the most clustering steps, rounded up to whole update intervals.
        batch_size: samples per clustering step.
        learning_rate: learning rate of the clustering phase (`None`: the paper's
            optimizer, SGD 0.01 with momentum for DEC, Adam 1e-3 for IDEC).
        n_init: k-means restarts of the centre initialisation.
        random_state: `None`, an int or a `numpy.random.RandomState`. An int seeds
            k-means, the batch order and (through `keras.utils.set_random_seed`,
            which sets Keras' global seed) the weights, so fits repeat exactly.
        verbose: 0 silent, 1 Keras' progress output and one line per refresh.

    Attributes:
        labels_: cluster of each training sample, shape `(n_samples,)`.
        cluster_centers_: the centres in the code space, `(n_clusters, code_dim)`.
        n_iter_: clustering steps taken.
        converged_: whether `tol` stopped the training (else `max_iter` did).
        history_: one dict per refresh (`iteration`, `delta_label`, `loss`, ...).
        model_: the trained `DEC` or `IDEC` Keras model.
        n_features_in_: number of features (columns) seen in `fit`.

    Example:

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> pipe = make_pipeline(StandardScaler(), DECClustering(n_clusters=10, random_state=0))
    >>> labels = pipe.fit_predict(x)  # x: (n_samples, n_features)
    """

    def __init__(self, n_clusters=8, *, algorithm="dec", encoder=None, decoder=None,
                 code_size=10, hidden_units=(500, 500, 2000), pretrain_epochs=50,
                 pretrain_batch_size=256, pretrain_learning_rate=1e-3, alpha=1.0, gamma=0.1,
                 update_interval=140, tol=1e-3, max_iter=5000, batch_size=256,
                 learning_rate=None, n_init=20, random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.algorithm = algorithm
        self.encoder = encoder
        self.decoder = decoder
        self.code_size = code_size
        self.hidden_units = hidden_units
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_batch_size = pretrain_batch_size
        self.pretrain_learning_rate = pretrain_learning_rate
        self.alpha = alpha
        self.gamma = gamma
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_init = n_init
        self.random_state = random_state
        self.verbose = verbose

    # --- validation ---------------------------------------------------------------------

    def _validated_params(self):
        import keras

        p = {
            "n_clusters": check_int(self.n_clusters, "n_clusters", 2),
            "algorithm": check_choice(self.algorithm, "algorithm", ("dec", "idec")),
            "code_size": check_positive_int(self.code_size, "code_size"),
            "hidden_units": check_units(self.hidden_units, "hidden_units"),
            "pretrain_epochs": check_int(self.pretrain_epochs, "pretrain_epochs", 0),
            "pretrain_batch_size": check_positive_int(self.pretrain_batch_size,
                                                      "pretrain_batch_size"),
            "pretrain_learning_rate": check_number(self.pretrain_learning_rate,
                                                   "pretrain_learning_rate", 0.0, low_open=True),
            "alpha": check_number(self.alpha, "alpha", 0.0, low_open=True),
            "gamma": check_number(self.gamma, "gamma", 0.0, low_open=True),
            "update_interval": check_positive_int(self.update_interval, "update_interval"),
            "tol": check_number(self.tol, "tol", 0.0, 1.0),
            "max_iter": check_int(self.max_iter, "max_iter", 0),
            "batch_size": check_positive_int(self.batch_size, "batch_size"),
            "learning_rate": check_number(self.learning_rate, "learning_rate", 0.0,
                                          low_open=True, allow_none=True),
            "n_init": check_positive_int(self.n_init, "n_init"),
            "verbose": check_int(self.verbose, "verbose", 0),
        }
        for name in ("encoder", "decoder"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, keras.Model):
                raise ValueError(f"`{name}` must be a keras.Model or None. "
                                 f"Received: {name}={value!r}")
        if self.decoder is not None and self.encoder is None:
            raise ValueError("`decoder` is used only with a pretrained `encoder`. "
                             "Received: encoder=None and a decoder")
        if p["algorithm"] == "idec" and self.encoder is not None and self.decoder is None:
            raise ValueError("`algorithm='idec'` with a pretrained `encoder` needs its "
                             "`decoder` too. Received: decoder=None")
        if isinstance(self.random_state, (bool, np.bool_)):
            raise ValueError("`random_state` must be None, an integer >= 0 or a "
                             f"numpy.random.RandomState. Received: random_state={self.random_state!r}")
        if self.random_state is None or isinstance(self.random_state, np.random.RandomState):
            seed = None if self.random_state is None \
                else int(check_random_state(self.random_state).randint(2**31 - 1))
        else:
            seed = check_int(self.random_state, "random_state", 0)
        p["seed"] = seed
        return p

    def _images(self, X, image_shape):
        """`X` as a batch of images of `image_shape` (rows of a 2-D `X` are flattened
        images when their size matches)."""
        image_shape = tuple(image_shape)
        if tuple(X.shape[1:]) == image_shape:
            return X
        if X.ndim == 2 and X.shape[1] == math.prod(image_shape):
            return X.reshape((len(X), *image_shape))
        raise ValueError(f"`X` must have shape (n_samples, {math.prod(image_shape)}) or "
                         f"(n_samples, {', '.join(map(str, image_shape))}), the input of the "
                         f"encoder. Received: X.shape={X.shape}")

    def _check_X(self, X, reset):
        X = validate_data(self, X, reset=reset, allow_nd=True, ensure_min_samples=2 if reset
                          else 1, dtype=(np.float64, np.float32))
        return X.astype(np.float32, copy=False)

    # --- scikit-learn -------------------------------------------------------------------

    def fit(self, X, y=None):
        """Pretrains (unless given an encoder), initialises and trains the clustering.

        Args:
            X: samples `(n_samples, n_features)` or images `(n, height, width, channels)`.
            y: ignored; labels never enter training.

        Returns:
            The fitted estimator.
        """
        import keras

        from keras_unsup.callbacks.target_distribution_refresh import TargetDistributionRefresh
        from keras_unsup.models.dec import DEC, IDEC

        X = self._check_X(X, reset=True)
        p = self._validated_params()
        n = len(X)
        if p["n_clusters"] > n:
            raise ValueError(f"`n_clusters` must be <= the number of samples (n_samples={n}). "
                             f"Received: n_clusters={p['n_clusters']}")
        if p["seed"] is not None:
            keras.utils.set_random_seed(p["seed"])
        if self.encoder is not None:
            encoder = _copy(self.encoder)
            decoder = None if self.decoder is None else _copy(self.decoder)
            x = self._images(X, encoder.input_shape[1:])
        else:
            if X.ndim not in (2, 4):
                raise ValueError("`X` must have shape (n_samples, n_features) or (n_samples, "
                                 f"height, width, channels). Received: X.shape={X.shape}")
            # Rows become (n_features, 1, 1) "images": the dense autoencoder flattens them.
            x = X.reshape((n, X.shape[1], 1, 1)) if X.ndim == 2 else X
            encoder, decoder = self._pretrained_autoencoder(x, p)
        if p["algorithm"] == "idec":
            model = IDEC(encoder, decoder, p["n_clusters"], alpha=p["alpha"], gamma=p["gamma"])
        else:
            model = DEC(encoder, p["n_clusters"], alpha=p["alpha"])
        optimizer = model.default_optimizer()
        if p["learning_rate"] is not None:
            optimizer.learning_rate = p["learning_rate"]
        model.compile(optimizer=optimizer)
        refresh = TargetDistributionRefresh(
            x, update_interval=p["update_interval"], batch_size=p["batch_size"], tol=p["tol"],
            n_init=p["n_init"], seed=p["seed"], predict_batch_size=_PREDICT_BATCH,
            verbose=p["verbose"])
        epochs = math.ceil(p["max_iter"] / p["update_interval"])
        model.fit(refresh.dataset(), epochs=epochs, callbacks=[refresh], shuffle=False,
                  verbose=p["verbose"])
        self.model_ = model
        self._image_shape = tuple(x.shape[1:])
        self.labels_ = refresh.labels
        self.cluster_centers_ = model.cluster_centers
        self.n_iter_ = int(model.optimizer.iterations.numpy())
        self.converged_ = bool(refresh.converged)
        self.history_ = refresh.history
        return self

    def _pretrained_autoencoder(self, x, p):
        import keras

        from keras_unsup.builders.autoencoder import build_dense_autoencoder
        from keras_unsup.data.pipeline import autoencoder_dataset

        # Linear output, as DEC's own autoencoder: features are not confined to [0, 1].
        autoencoder, encoder, decoder = build_dense_autoencoder(
            input_shape=x.shape[1:], code_size=p["code_size"], hidden_units=p["hidden_units"],
            output_activation=None)
        if p["pretrain_epochs"] > 0:
            autoencoder.compile(optimizer=keras.optimizers.Adam(p["pretrain_learning_rate"]),
                                loss="mse")
            autoencoder.fit(autoencoder_dataset(x, p["pretrain_batch_size"], seed=p["seed"]),
                            epochs=p["pretrain_epochs"], shuffle=False, verbose=p["verbose"])
        return encoder, decoder

    def _fitted_images(self, X):
        check_is_fitted(self)
        return self._images(self._check_X(X, reset=False), self._image_shape)

    def predict_proba(self, X):
        """Soft assignments `q` of `X` to the clusters, `(n_samples, n_clusters)`."""
        x = self._fitted_images(X)
        return np.asarray(self.model_.predict(x, batch_size=_PREDICT_BATCH, verbose=0),
                          np.float64)

    def predict(self, X):
        """The cluster of each sample of `X`: the argmax of `predict_proba`."""
        return self.predict_proba(X).argmax(axis=1)

    def fit_predict(self, X, y=None):
        """`fit(X)` and the clusters of `X`: the same as `fit(X).labels_`."""
        return self.fit(X, y).labels_

    @property
    def _n_features_out(self):
        """Number of columns of `transform`'s output (the code size), for
        `get_feature_names_out`."""
        return int(self.cluster_centers_.shape[1])

    def transform(self, X):
        """The codes of `X` from the trained encoder, `(n_samples, code_dim)`."""
        x = self._fitted_images(X)
        return np.asarray(self.model_.encoder.predict(x, batch_size=_PREDICT_BATCH, verbose=0),
                          np.float64)
