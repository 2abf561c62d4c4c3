"""Uniform evaluation: clustering scores and probes on frozen codes.

Plain functions on NumPy arrays. Labels are used here only to score; no method
trains on them.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from keras_unsup.checks import check_choice, check_int, check_positive_int, check_seed


def check_labels(y_true, y_pred, names=("y_true", "y_pred")):
    """`y_true` and `y_pred` as int64 label arrays of one length, or a clear error."""
    y_true = np.asarray(y_true).reshape(-1) if np.ndim(y_true) else np.asarray(y_true)
    y_pred = np.asarray(y_pred).reshape(-1) if np.ndim(y_pred) else np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must be 1-D label arrays. "
            f"Received: shapes {np.shape(y_true)} and {np.shape(y_pred)}"
        )
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same length. "
            f"Received: {len(y_true)} and {len(y_pred)}"
        )
    if len(y_true) == 0:
        raise ValueError(f"`{names[0]}` must not be empty.")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


_check_labels = check_labels  # the old name, still imported by viz.py


def cluster_accuracy(y_true, y_pred):
    """Clustering accuracy under the best one-to-one map of clusters to classes.

    The map is found with the Hungarian algorithm on the contingency table, as in
    the DEC paper (Xie et al., 2016). A relabelled perfect clustering scores 1.0.

    Args:
        y_true: integer class labels, shape `(n,)`.
        y_pred: integer cluster labels, shape `(n,)`; the number of clusters may
            differ from the number of classes.

    Returns:
        Accuracy in [0, 1] as a float.
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    _, _, table, rows, cols = _hungarian_match(y_true, y_pred)
    return float(table[rows, cols].sum() / len(y_true))


def _hungarian_match(y_true, y_pred):
    """Contingency table `(clusters, classes)` and its maximum-weight matching.

    Returns `(classes, clusters, table, rows, cols)`: `table[i, j]` counts samples
    of cluster `clusters[i]` and class `classes[j]`; `rows[k]` is matched to `cols[k]`.
    """
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    t, p = t.reshape(-1), p.reshape(-1)
    table = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    rows, cols = linear_sum_assignment(-table)
    return classes, clusters, table, rows, cols


def match_clusters(y_true, y_pred):
    """The one-to-one map of clusters to classes that `cluster_accuracy` scores.

    Found with the Hungarian algorithm on the contingency table. When there are
    more clusters than classes, the clusters left over are absent from the map.

    Args:
        y_true: integer class labels, shape `(n,)`.
        y_pred: integer cluster labels, shape `(n,)`.

    Returns:
        A dict `{cluster: class}` of Python ints.

    Example:

    >>> match_clusters([0, 0, 1, 1], [5, 5, 3, 3])
    {3: 1, 5: 0}
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    classes, clusters, _, rows, cols = _hungarian_match(y_true, y_pred)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols)}


def nmi(y_true, y_pred):
    """Normalised mutual information (arithmetic normalisation), in [0, 1]."""
    y_true, y_pred = check_labels(y_true, y_pred)
    return float(normalized_mutual_info_score(y_true, y_pred))


def ari(y_true, y_pred):
    """Adjusted Rand index: 1.0 for identical partitions, about 0 for chance."""
    y_true, y_pred = check_labels(y_true, y_pred)
    return float(adjusted_rand_score(y_true, y_pred))


def clustering_scores(y_true, y_pred):
    """`{"acc", "nmi", "ari"}` of a clustering against the true labels."""
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": nmi(y_true, y_pred),
        "ari": ari(y_true, y_pred),
    }


def _check_features(x, y, name_x, name_y):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        x = x.reshape(len(x), -1)
    y = np.asarray(y).reshape(-1)
    if len(x) != len(y):
        raise ValueError(
            f"`{name_x}` and `{name_y}` must have the same length. "
            f"Received: {len(x)} codes and {len(y)} labels"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name_x}` must hold only finite values; it holds NaN or infinity.")
    return x, y


def linear_probe_accuracy(x_train, y_train, x_test, y_test, *, max_iter=1000, C=1.0):
    """Test accuracy of a logistic-regression classifier fitted on frozen codes.

    Codes are standardised with the training split's mean and deviation first.

    Args:
        x_train: codes of shape `(n_train, d)` (or images, flattened).
        y_train: labels of shape `(n_train,)`.
        x_test: codes of shape `(n_test, d)`.
        y_test: labels of shape `(n_test,)`.
        max_iter: iterations of the solver.
        C: inverse regularisation strength.

    Returns:
        Accuracy on the test split as a float.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = _check_features(x_train, y_train, "x_train", "y_train")
    x_test, y_test = _check_features(x_test, y_test, "x_test", "y_test")
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(max_iter=max_iter, C=C)
    clf.fit(scaler.transform(x_train), y_train)
    return float(clf.score(scaler.transform(x_test), y_test))


def knn_accuracy(x_train, y_train, x_test, y_test, *, k=5, metric="cosine"):
    """Test accuracy of a k-nearest-neighbour vote on frozen codes.

    Args:
        x_train: codes of shape `(n_train, d)`.
        y_train: labels of shape `(n_train,)`.
        x_test: codes of shape `(n_test, d)`.
        y_test: labels of shape `(n_test,)`.
        k: neighbours that vote.
        metric: distance of the neighbour search (`"cosine"` or `"euclidean"`).

    Returns:
        Accuracy on the test split as a float.
    """
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train = _check_features(x_train, y_train, "x_train", "y_train")
    x_test, y_test = _check_features(x_test, y_test, "x_test", "y_test")
    k = check_int(k, "k", 1, len(x_train))
    metric = check_choice(metric, "metric", ("cosine", "euclidean"))
    clf = KNeighborsClassifier(n_neighbors=k, metric=metric)
    clf.fit(x_train, y_train)
    return float(clf.score(x_test, y_test))


def kmeans_scores(codes, y_true, n_clusters, *, seed=0, n_init=10, normalize=None):
    """Fits k-means on `codes` and scores its labels: `({"acc", "nmi", "ari"}, labels)`.

    Args:
        codes: features of shape `(n, d)`.
        y_true: labels of shape `(n,)`, used only to score.
        n_clusters: clusters of k-means.
        seed: seed of k-means' initialisations.
        n_init: initialisations; the one of lowest inertia is kept.
        normalize: `None` (raw codes), `"l2"` (each code scaled to unit length, so
            k-means groups by direction, as with cosine similarity) or `"standard"`
            (each dimension to zero mean and unit variance). Autoencoder codes are
            unscaled: a few wide dimensions otherwise dominate the distances.
    """
    from sklearn.cluster import KMeans

    codes, y_true = _check_features(codes, y_true, "codes", "y_true")
    n_clusters = check_int(n_clusters, "n_clusters", 1, len(codes))
    n_init = check_positive_int(n_init, "n_init")
    seed = check_seed(seed)
    check_choice(normalize, "normalize", (None, "l2", "standard"))
    if normalize == "l2":
        codes = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    elif normalize == "standard":
        codes = (codes - codes.mean(axis=0)) / np.maximum(codes.std(axis=0), 1e-12)
    labels = KMeans(n_clusters, n_init=n_init, random_state=seed).fit_predict(codes)
    return clustering_scores(y_true, labels), labels
