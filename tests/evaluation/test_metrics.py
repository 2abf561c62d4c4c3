import numpy as np
import pytest

from keras_unsup.evaluation import (
    ari,
    cluster_accuracy,
    clustering_scores,
    kmeans_scores,
    knn_accuracy,
    linear_probe_accuracy,
    nmi,
)


def test_permuted_labelling_scores_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    perm = rng.permutation(10)
    scores = clustering_scores(y, perm[y])
    assert scores == {"acc": 1.0, "nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}


def test_cluster_accuracy_known_value():
    # clusters {0: [0,0,1], 1: [1,1,1]}: best map 0->0, 1->1 gets 2 + 3 = 5 of 6
    assert cluster_accuracy([0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]) == pytest.approx(5 / 6)
    # more clusters than classes: only one cluster per class may count
    assert cluster_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == pytest.approx(0.5)


def test_random_labelling_scores_near_chance():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 10, 5000), rng.integers(0, 10, 5000)
    assert cluster_accuracy(y, p) < 0.14
    assert nmi(y, p) < 0.02 and abs(ari(y, p)) < 0.01


def test_length_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r"same length. Received: 3 and 2"):
        cluster_accuracy([0, 1, 2], [0, 1])


def _blobs(n, d, separation, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    centres = rng.normal(size=(4, d)) * separation
    return centres[y] + rng.normal(size=(n, d)), y


def test_probes_on_separable_codes_and_on_noise():
    x, y = _blobs(800, 16, 10.0, 0)
    assert linear_probe_accuracy(x[:600], y[:600], x[600:], y[600:]) > 0.99
    assert knn_accuracy(x[:600], y[:600], x[600:], y[600:], k=5) > 0.99
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(800, 16))
    assert linear_probe_accuracy(noise[:600], y[:600], noise[600:], y[600:]) < 0.4
    assert knn_accuracy(noise[:600], y[:600], noise[600:], y[600:]) < 0.4


def test_probe_bad_input():
    x, y = _blobs(50, 4, 1.0, 0)
    with pytest.raises(ValueError, match=r"`x_train` and `y_train` must have the same length"):
        linear_probe_accuracy(x, y[:-1], x, y)
    with pytest.raises(ValueError, match=r"`k` must be an integer in \[1, 50\]. Received: k=51"):
        knn_accuracy(x, y, x, y, k=51)
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        knn_accuracy(x, y, x, y)


def test_kmeans_scores_recovers_blobs():
    x, y = _blobs(400, 8, 10.0, 3)
    scores, labels = kmeans_scores(x, y, 4, seed=0)
    assert scores["acc"] > 0.98 and labels.shape == (400,)


def test_kmeans_normalisation_groups_by_direction():
    # two directions, each at very different lengths: raw k-means splits by length,
    # L2-normalised k-means by direction
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    directions = np.array([[1.0, 0.0], [0.0, 1.0]])[y]
    lengths = np.tile(np.r_[np.full(100, 1.0), np.full(100, 50.0)], 2)[:, None]
    x = directions * lengths + rng.normal(scale=0.02, size=(400, 2))
    raw, _ = kmeans_scores(x, y, 2, seed=0)
    l2, _ = kmeans_scores(x, y, 2, seed=0, normalize="l2")
    assert l2["acc"] == 1.0 and raw["acc"] < 0.8
    with pytest.raises(ValueError, match=r"`normalize` must be one of \[None, 'l2', 'standard'\]. Received: normalize='max'"):
        kmeans_scores(x, y, 2, normalize="max")
