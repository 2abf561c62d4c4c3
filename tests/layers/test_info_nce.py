import keras
import numpy as np
import pytest

from keras_unsup.layers.info_nce import (
    InfoNCE,
    info_nce_logits,
    info_nce_loss,
    nt_xent_loss,
)


def _rng_vectors(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_queue_loss(q, k, queue, t):
    """Slow, loop-based InfoNCE with shared negatives (float64)."""
    q, k, queue = (_unit(np.asarray(a, np.float64)) for a in (q, k, queue))
    out = []
    for i in range(len(q)):
        pos = np.exp(q[i] @ k[i] / t)
        neg = sum(np.exp(q[i] @ n / t) for n in queue)
        out.append(-np.log(pos / (pos + neg)))
    return np.array(out)


def reference_nt_xent(a, b, t):
    """Slow NT-Xent over the 2N views of a batch (SimCLR's definition)."""
    z = _unit(np.concatenate([a, b]).astype(np.float64))
    n = len(a)
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denom = sum(np.exp(z[i] @ z[m] / t) for m in range(2 * n) if m != i)
        losses.append(-np.log(np.exp(z[i] @ z[j] / t) / denom))
    losses = np.array(losses)
    return 0.5 * (losses[:n] + losses[n:])


def test_matches_reference_with_a_queue():
    q, k, queue = _rng_vectors(6, 5), _rng_vectors(6, 5, seed=1), _rng_vectors(11, 5, seed=2)
    got = np.asarray(info_nce_loss(q, k, queue, temperature=0.2))
    np.testing.assert_allclose(got, reference_queue_loss(q, k, queue, 0.2), rtol=1e-5)


def test_nt_xent_matches_reference_and_is_symmetric():
    a, b = _rng_vectors(7, 4), _rng_vectors(7, 4, seed=3)
    got = np.asarray(nt_xent_loss(a, b, temperature=0.5))
    np.testing.assert_allclose(got, reference_nt_xent(a, b, 0.5), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(nt_xent_loss(b, a, temperature=0.5)), got, rtol=1e-6)


@pytest.mark.parametrize("n, k", [(4, 1), (8, 16), (3, 100)])
def test_identical_embeddings_give_log_of_candidates(n, k):
    v = np.ones((n, 3), "float32")
    queue = np.ones((k, 3), "float32")
    np.testing.assert_allclose(np.asarray(info_nce_loss(v, v, queue)), np.log(1 + k), rtol=1e-5)
    # In-batch negatives: 2N - 2 others plus the positive.
    np.testing.assert_allclose(np.asarray(info_nce_loss(v, v)), np.log(2 * n - 1), rtol=1e-5)


def test_orthogonal_negatives_and_aligned_positive_give_analytic_value():
    # q = k = e_0, negatives orthogonal: loss = -log(e^{1/t} / (e^{1/t} + K e^0)).
    t, k = 0.1, 5
    q = np.eye(6, dtype="float32")[:1]
    queue = np.eye(6, dtype="float32")[1:]
    expected = -np.log(np.exp(1 / t) / (np.exp(1 / t) + k))
    np.testing.assert_allclose(np.asarray(info_nce_loss(q, q, queue, temperature=t)), [expected],
                               rtol=1e-5)


def test_logits_put_positive_first_and_mask_self():
    q, k = _rng_vectors(4, 3), _rng_vectors(4, 3, seed=1)
    logits = np.asarray(info_nce_logits(q, k, temperature=1.0))
    assert logits.shape == (4, 9)
    np.testing.assert_allclose(logits[:, 0], np.sum(_unit(q) * _unit(k), axis=1), rtol=1e-5)
    for i in range(4):
        assert logits[i, 1 + i] < -1e8 and logits[i, 5 + i] < -1e8
    logits = np.asarray(info_nce_logits(q, k, _rng_vectors(7, 3, seed=2), temperature=0.5))
    assert logits.shape == (4, 8)


def test_normalize_false_uses_dot_products():
    q, k = np.array([[2.0, 0.0]], "float32"), np.array([[3.0, 0.0]], "float32")
    queue = np.array([[0.0, 1.0]], "float32")
    logits = np.asarray(info_nce_logits(q, k, queue, temperature=1.0, normalize=False))
    np.testing.assert_allclose(logits, [[6.0, 0.0]])


def test_layer_config_round_trip_and_logits():
    layer = InfoNCE(temperature=0.2, normalize=True, name="nce")
    clone = InfoNCE.from_config(layer.get_config())
    assert clone.temperature == 0.2 and clone.normalize and clone.name == "nce"
    q, k, queue = _rng_vectors(5, 4), _rng_vectors(5, 4, seed=1), _rng_vectors(9, 4, seed=2)
    loss, logits = layer(q, k, queue, return_logits=True)
    assert tuple(loss.shape) == (5,) and tuple(logits.shape) == (5, 10)
    np.testing.assert_allclose(np.asarray(loss), reference_queue_loss(q, k, queue, 0.2), rtol=1e-5)


def test_gradients_pull_positive_closer():
    import tensorflow as tf

    q = tf.Variable(_rng_vectors(8, 4))
    k, queue = _rng_vectors(8, 4, seed=1), _rng_vectors(16, 4, seed=2)
    layer = InfoNCE(0.1)
    before = float(np.mean(layer(q, k, queue)))
    opt = keras.optimizers.SGD(0.05)
    for _ in range(20):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(layer(q, k, queue))
        opt.apply_gradients([(tape.gradient(loss, q), q)])
    assert float(np.mean(layer(q, k, queue))) < before - 0.5


@pytest.mark.parametrize("temperature", [0, -0.1, "0.1", True])
def test_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match=r"`temperature` must be a number in \(0, inf\). Received"):
        InfoNCE(temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(np.ones((2, 3)), np.ones((2, 3)), temperature=temperature)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same last dimension"):
        info_nce_loss(np.ones((2, 3), "float32"), np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="2-D"):
        info_nce_loss(np.ones((2, 3, 1), "float32"), np.ones((2, 3, 1), "float32"))
    with pytest.raises(ValueError, match="negative_keys"):
        info_nce_loss(np.ones((2, 3), "float32"), np.ones((2, 3), "float32"),
                      np.ones((5, 4), "float32"))


def test_symbolic_call_in_a_functional_model():
    q_in, k_in = keras.Input((6,)), keras.Input((6,))
    loss = InfoNCE(0.5)(q_in, k_in)
    assert tuple(loss.shape) == (None,)
    model = keras.Model([q_in, k_in], loss)
    q, k = _rng_vectors(4, 6), _rng_vectors(4, 6, seed=1)
    np.testing.assert_allclose(model.predict([q, k], verbose=0),
                               np.asarray(info_nce_loss(q, k, temperature=0.5)), rtol=1e-5)
