"""Fréchet distance between real and generated images in a small classifier's feature space.

What this module measures is exactly: the Fréchet distance between Gaussians
fitted to the features that a *small CNN classifier trained on that dataset's
labelled training images* gives to two sets of images. It is **not** the FID
(Heusel et al., 2017), which uses an ImageNet Inception-v3 network; its values are
not comparable with published FIDs, only with each other on the same dataset and
classifier. Always report it next to its floor, the distance between two real
samples of the same size (`real_floor`), which is above 0 because of sampling
noise.
"""

import warnings

import numpy as np
from scipy import linalg

from keras_unsup.checks import check_image_array, check_input_shape, check_positive_int, check_seed


def frechet_distance(features_a, features_b, eps=1e-6):
    """Fréchet distance between Gaussians fitted to two sets of feature vectors.

    `||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))` (Dowson & Landau, 1982).

    Args:
        features_a: array `(n_a, d)`, `n_a >= 2`.
        features_b: array `(n_b, d)`, `n_b >= 2`.
        eps: added to the covariances' diagonals when their product's square root
            is not finite (near-singular covariances).

    Returns:
        The distance as a float (>= 0 up to rounding).

    Example:

    >>> a = np.random.default_rng(0).normal(size=(500, 4))
    >>> round(frechet_distance(a, a), 6)
    0.0
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            "`features_a` and `features_b` must be 2-D arrays with the same number of "
            f"columns. Received: shapes {a.shape} and {b.shape}"
        )
    if len(a) < 2 or len(b) < 2:
        raise ValueError(
            f"`features_a` and `features_b` must hold at least 2 rows each. Received: "
            f"{len(a)} and {len(b)}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("`features_a` and `features_b` must hold only finite values.")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        # Near-singular covariances (dead ReLU features, few samples) are handled below.
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(cov_a @ cov_b)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(len(cov_a)) * eps
            covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def build_feature_classifier(image_shape, n_classes, feature_dim=128, filters=32):
    """The small CNN whose penultimate layer is the feature space.

    Conv 3x3 `filters` ReLU stride 2, conv 3x3 `2*filters` ReLU stride 2, flatten,
    dense `feature_dim` ReLU (layer `"features"`), dense `n_classes` logits.

    Returns:
        `(classifier, feature_model)`: uncompiled models sharing their layers.
    """
    import keras

    image_shape = check_input_shape(image_shape, "image_shape")
    n_classes = check_positive_int(n_classes, "n_classes")
    feature_dim = check_positive_int(feature_dim, "feature_dim")
    filters = check_positive_int(filters, "filters")
    image = keras.Input(image_shape, name="image")
    x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(image)
    x = keras.layers.Conv2D(2 * filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(feature_dim, activation="relu", name="features")(x)
    logits = keras.layers.Dense(n_classes, name="logits")(features)
    classifier = keras.Model(image, logits, name="feature_classifier")
    return classifier, keras.Model(image, features, name="feature_extractor")


class ClassifierFrechetDistance:
    """Fréchet distance in the feature space of a small classifier trained on the dataset.

    Not the FID: see the module docstring. `fit` trains the classifier of
    `build_feature_classifier` on labelled real images; `distance(real, generated)`
    compares two image sets; `real_floor(real_a, real_b)` is the same distance
    between two real samples, the lowest value a generator can expect.

    Args:
        feature_dim: width of the feature layer.
        epochs: training epochs of the classifier.
        batch_size: its batch size.
        seed: seed of its initialisation and shuffling.

    Attributes:
        classifier_: the trained classifier (after `fit`).
        test_accuracy_: its accuracy on `validation_data` when given, else `None`.

    Example:

    >>> fd = ClassifierFrechetDistance(epochs=2).fit(x_train, y_train, (x_test, y_test))
    >>> fd.real_floor(x_test[:5000], x_train[:5000]), fd.distance(x_test[:5000], fake)  # doctest: +SKIP
    """

    def __init__(self, feature_dim=128, epochs=3, batch_size=128, seed=0):
        self.feature_dim = check_positive_int(feature_dim, "feature_dim")
        self.epochs = check_positive_int(epochs, "epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.seed = check_seed(seed)
        self.classifier_ = None
        self.test_accuracy_ = None
        self._features = None

    def fit(self, x, y, validation_data=None, verbose=0):
        """Trains the classifier on images `x` `(n, h, w, c)` and labels `y` `(n,)`; returns self."""
        import keras

        x = check_image_array(x, "x")
        y = np.asarray(y).reshape(-1)
        if len(x) != len(y) or len(x) < 2:
            raise ValueError(
                "`x` must hold at least 2 images and `y` one label per image. "
                f"Received: x.shape={x.shape}, y.shape={y.shape}"
            )
        n_classes = int(y.max()) + 1
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        classifier, features = build_feature_classifier(x.shape[1:], n_classes, self.feature_dim)
        classifier.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile="auto",
        )
        classifier.fit(
            x, y, batch_size=self.batch_size, epochs=self.epochs, verbose=verbose, shuffle=True
        )
        self.classifier_, self._features = classifier, features
        if validation_data is not None:
            xv, yv = validation_data
            self.test_accuracy_ = float(
                classifier.evaluate(
                    np.asarray(xv, np.float32),
                    np.asarray(yv).reshape(-1),
                    batch_size=1024,
                    verbose=0,
                )[1]
            )
        return self

    def features(self, x, batch_size=1024):
        """Feature vectors `(n, feature_dim)` of images `x`."""
        if self._features is None:
            raise ValueError(
                "Call `fit` before `features`. Received: an unfitted ClassifierFrechetDistance"
            )
        x = check_image_array(x, "x", self._features.input_shape[1:])
        return np.asarray(self._features.predict(x, batch_size=batch_size, verbose=0), np.float64)

    def distance(self, images_a, images_b):
        """Fréchet distance between the features of two image sets."""
        return frechet_distance(self.features(images_a), self.features(images_b))

    def real_floor(self, real_a, real_b):
        """The distance between two real samples: the floor a generator is compared with."""
        return self.distance(real_a, real_b)
