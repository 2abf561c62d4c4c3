import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.evaluation.metrics import cluster_accuracy
from keras_unsup.layers.info_nce import nt_xent_loss
from keras_unsup.losses import assignment_entropy, cluster_contrastive_loss
from keras_unsup.models.contrastive_clustering import ContrastiveClustering

SHAPE = (10, 10, 1)


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _reference_cluster_loss(a, b, temperature=1.0):
    """The authors' formula written out in NumPy, one cluster at a time: cross-entropy of
    each of the 2K columns against its partner among the other 2K - 1, averaged, plus
    log K - H(p) of each view's marginal."""
    k = a.shape[1]
    columns = np.concatenate([a.T, b.T])
    columns = columns / np.linalg.norm(columns, axis=1, keepdims=True)
    sim = columns @ columns.T / temperature
    total = 0.0
    for i in range(2 * k):
        partner = (i + k) % (2 * k)
        others = [j for j in range(2 * k) if j != i]
        total += np.log(np.sum(np.exp(sim[i, others]))) - sim[i, partner]
    balance = 0.0
    for view in (a, b):
        p = view.sum(0) / view.sum()
        balance += np.log(k) + np.sum(p * np.log(p))
    return total / (2 * k) + balance


def test_cluster_loss_matches_a_slow_reference_and_is_symmetric():
    rng = np.random.default_rng(0)
    a = _softmax(rng.normal(size=(32, 5)) * 2).astype("float32")
    b = _softmax(rng.normal(size=(32, 5)) * 2).astype("float32")
    for t in (1.0, 0.5):
        expected = _reference_cluster_loss(a.astype(np.float64), b.astype(np.float64), t)
        np.testing.assert_allclose(float(cluster_contrastive_loss(a, b, temperature=t)),
                                   expected, rtol=1e-5)
    np.testing.assert_allclose(float(cluster_contrastive_loss(a, b)),
                               float(cluster_contrastive_loss(b, a)), rtol=1e-6)
    # The column part is SimCLR's NT-Xent on the transposed matrices: no copy of it.
    columns = float(np.mean(nt_xent_loss(a.T, b.T, temperature=1.0)))
    no_entropy = float(cluster_contrastive_loss(a, b, entropy_weight=0.0))
    np.testing.assert_allclose(no_entropy, columns, rtol=1e-6)


def test_cluster_loss_analytic_values_and_the_entropy_of_the_marginal():
    k, t = 4, 0.5
    one_hot = np.eye(k, dtype="float32")[np.arange(40) % k]  # balanced, confident, agreeing
    # Each column: cosine 1 with its partner, 0 with the 2K - 2 others; the marginal is
    # uniform, so the entropy term is 0.
    expected = np.log(np.exp(1 / t) + 2 * k - 2) - 1 / t
    np.testing.assert_allclose(float(cluster_contrastive_loss(one_hot, one_hot, temperature=t)),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(float(assignment_entropy(one_hot)), np.log(k), rtol=1e-6)
    collapsed = np.zeros((40, k), "float32")
    collapsed[:, 0] = 1.0
    assert abs(float(assignment_entropy(collapsed))) < 1e-5
    # A collapse is what the entropy term punishes: 2 log K more than the balanced case.
    gap = float(cluster_contrastive_loss(collapsed, collapsed, entropy_weight=1.0)) \
        - float(cluster_contrastive_loss(collapsed, collapsed, entropy_weight=0.0))
    np.testing.assert_allclose(gap, 2 * np.log(k), rtol=1e-5)
    with pytest.raises(ValueError, match=r"`temperature` must be a number in \(0, inf\)\. "
                                         r"Received: temperature=0"):
        cluster_contrastive_loss(one_hot, one_hot, temperature=0)
    with pytest.raises(ValueError, match=r"`entropy_weight` .* Received: entropy_weight=-1"):
        cluster_contrastive_loss(one_hot, one_hot, entropy_weight=-1)


def test_rejects_bad_arguments():
    encoder = build_small_convnet(SHAPE, 8)
    with pytest.raises(ValueError, match=r"`n_clusters` must be an integer >= 2\. "
                                         r"Received: n_clusters=1"):
        ContrastiveClustering(encoder, n_clusters=1)
    with pytest.raises(ValueError, match=r"Received: cluster_temperature=0"):
        ContrastiveClustering(encoder, cluster_temperature=0)
    with pytest.raises(ValueError, match=r"Received: entropy_weight=-0.5"):
        ContrastiveClustering(encoder, entropy_weight=-0.5)
    with pytest.raises(ValueError, match=r"Received: temperature=-1"):
        ContrastiveClustering(encoder, instance_temperature=-1)
    model = ContrastiveClustering(encoder, n_clusters=3)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="pairs of views"):
        model.train_step(np.zeros((2, *SHAPE), "float32"))


def _blobs(n_per=48, k=4, seed=0):
    """`k` kinds of 10x10 images (a bright square at one of `k` places) with noise; two
    noisy views of each image."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n_per * k, *SHAPE), "float32")
    y = np.repeat(np.arange(k), n_per)
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, 1 + 5 * r:4 + 5 * r, 1 + 5 * c:4 + 5 * c] = 1.0
    x = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype("float32")
    noisy = [np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype("float32") for _ in (0, 1)]
    order = rng.permutation(len(x))
    return x[order], y[order], noisy[0][order], noisy[1][order]


def test_loss_is_the_sum_of_both_heads_and_training_finds_the_clusters():
    keras.utils.set_random_seed(0)
    x, y, v1, v2 = _blobs()
    model = ContrastiveClustering(build_small_convnet(SHAPE, 16, filters=(8, 8)), n_clusters=4,
                                  projection_dim=8, instance_temperature=0.5)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    ds = tf.data.Dataset.from_tensor_slices((v1, v2)).batch(64, drop_remainder=True)
    h1, h2 = model.encoder(v1[:64]), model.encoder(v2[:64])
    instance = np.mean(nt_xent_loss(model.projector(h1), model.projector(h2), temperature=0.5))
    cluster = cluster_contrastive_loss(model(v1[:64]), model(v2[:64]))
    first = model.evaluate(ds.take(1), verbose=0, return_dict=True)
    np.testing.assert_allclose(first["instance_loss"], instance, rtol=1e-4)
    np.testing.assert_allclose(first["cluster_loss"], float(cluster), rtol=1e-4)
    np.testing.assert_allclose(first["loss"], instance + float(cluster), rtol=1e-4)
    history = model.fit(ds, epochs=20, verbose=0, shuffle=False).history
    assert history["loss"][-1] < history["loss"][0] - 1.0
    assignments = model.predict(x, verbose=0)
    assert assignments.shape == (len(x), 4)
    np.testing.assert_allclose(assignments.sum(axis=1), 1.0, rtol=1e-5)
    labels = assignments.argmax(axis=1)
    assert cluster_accuracy(y, labels) > 0.95  # chance is about 0.3
    assert history["cluster_balance"][-1] > 0.9  # every cluster in use
    assert tuple(model.encoder.predict(x[:3], verbose=0).shape) == (3, 16)


@pytest.mark.slow
def test_save_and_load_gives_identical_assignments(tmp_path):
    x, _, v1, v2 = _blobs(8)
    model = ContrastiveClustering(build_small_convnet(SHAPE, 8, filters=(4, 4)), n_clusters=3,
                                  projection_dim=None, cluster_temperature=0.7,
                                  entropy_weight=2.0)
    model.compile(optimizer="adam")
    model.fit(tf.data.Dataset.from_tensor_slices((v1, v2)).batch(16), epochs=1, verbose=0,
              shuffle=False)
    model.save(tmp_path / "cc.keras")
    loaded = keras.saving.load_model(tmp_path / "cc.keras")
    assert isinstance(loaded, ContrastiveClustering)
    assert (loaded.n_clusters, loaded.projection_dim, loaded.cluster_temperature,
            loaded.entropy_weight) == (3, None, 0.7, 2.0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    np.testing.assert_allclose(loaded.encoder.predict(x, verbose=0),
                               model.encoder.predict(x, verbose=0), atol=1e-6)
