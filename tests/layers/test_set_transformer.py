import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.layers.multihead_attention_block import MultiheadAttentionBlock
from keras_unsup.layers.set_transformer import SetTransformer


def _set(seed=0, n=6, d=5, batch=3):
    return np.random.default_rng(seed).normal(size=(batch, n, d)).astype("float32")


@pytest.mark.parametrize("num_inducing", [0, 3])
def test_output_is_invariant_to_the_order_of_the_set(num_inducing):
    layer = SetTransformer(num_outputs=4, dim=16, num_heads=2, num_inducing=num_inducing)
    x = _set()
    presence = np.random.default_rng(1).uniform(0.2, 1, size=x.shape[:2]).astype("float32")
    out = np.asarray(layer(x, presence))
    order = np.random.default_rng(2).permutation(x.shape[1])
    shuffled = np.asarray(layer(x[:, order], presence[:, order]))
    assert out.shape == (3, 4, 16)
    np.testing.assert_allclose(out, shuffled, atol=1e-5)
    # ... while the outputs of the seeds differ from each other (they are not a broadcast)
    assert np.abs(out[:, 0] - out[:, 1]).max() > 1e-3


def test_an_absent_element_changes_nothing():
    layer = SetTransformer(num_outputs=2, dim=8, num_heads=2)
    x = _set()
    presence = np.ones(x.shape[:2], "float32")
    out = np.asarray(layer(x, presence))
    extra = np.concatenate([x, 100 * np.ones_like(x[:, :1])], axis=1)
    with_absent = np.asarray(layer(extra, np.concatenate([presence, np.zeros_like(presence[:, :1])],
                                                         axis=1)))
    with_present = np.asarray(layer(extra, np.ones(extra.shape[:2], "float32")))
    np.testing.assert_allclose(with_absent, out, atol=1e-3)
    assert np.abs(with_present - out).max() > 1e-2


def test_attention_block_equals_a_hand_computed_single_head_attention():
    mab = MultiheadAttentionBlock(4, num_heads=1, layer_norm=False)
    q, k = _set(0, 2, 4, 1), _set(1, 3, 4, 1)
    out = np.asarray(mab(q, k))
    wq, bq = [np.asarray(w) for w in mab.query_dense.weights]
    wk, bk = [np.asarray(w) for w in mab.key_dense.weights]
    wv, bv = [np.asarray(w) for w in mab.value_dense.weights]
    wo, bo = [np.asarray(w) for w in mab.output_dense.weights]
    w1, b1 = [np.asarray(w) for w in mab.ff_hidden.weights]
    w2, b2 = [np.asarray(w) for w in mab.ff_out.weights]
    logits = (q[0] @ wq + bq) @ (k[0] @ wk + bk).T / 2.0
    attention = np.exp(logits - logits.max(1, keepdims=True))
    attention /= attention.sum(1, keepdims=True)
    h = q[0] + (attention @ (k[0] @ wv + bv)) @ wo + bo
    expected = h + np.maximum(h @ w1 + b1, 0) @ w2 + b2
    np.testing.assert_allclose(out[0], expected, atol=1e-5)


def test_attention_only_block_is_the_attention_alone_without_weights_for_the_rest():
    # the official SCAE code's pooling: Multihead(Q, K, V), no residual, norm or rFF
    mab = MultiheadAttentionBlock(4, num_heads=2, attention_only=True)
    q, k = _set(0, 3, 4, 2), _set(1, 5, 4, 2)
    out = np.asarray(mab(q, k))
    assert len(mab.weights) == 8  # query, key, value and output kernels and biases only
    wv, bv = [np.asarray(w) for w in mab.value_dense.weights]
    wo, bo = [np.asarray(w) for w in mab.output_dense.weights]
    # keys all equal: every query attends to the same value, whatever the query
    same = np.repeat(k[:, :1], 5, axis=1)
    expected = (same[:, 0] @ wv + bv) @ wo + bo  # (batch, 4)
    np.testing.assert_allclose(np.asarray(mab(q, same)), np.repeat(expected[:, None], 3, axis=1),
                               atol=1e-5)
    # ... and with different keys the output depends on the query (it is attention)
    assert np.abs(out[:, 0] - out[:, 1]).max() > 1e-4
    full = MultiheadAttentionBlock(4, num_heads=2)
    full(q, k)
    assert len(full.weights) > 8


def test_attention_pooling_follows_the_set_where_the_pma_block_may_not():
    # pooling="attention" has no path from the seeds to the output that skips the set:
    # the outputs for a set of identical elements are those elements' values, the same
    # for every seed
    layer = SetTransformer(num_outputs=3, dim=8, num_heads=2, num_blocks=1, pooling="attention")
    x = np.repeat(_set()[:, :1], 6, axis=1)
    out = np.asarray(layer(x))
    assert out.shape == (3, 3, 8)
    np.testing.assert_allclose(out[:, 0], out[:, 1], atol=1e-5)
    np.testing.assert_allclose(out[:, 0], out[:, 2], atol=1e-5)
    mab = SetTransformer(num_outputs=3, dim=8, num_heads=2, num_blocks=1, pooling="mab")
    assert np.abs(np.asarray(mab(x))[:, 0] - np.asarray(mab(x))[:, 1]).max() > 1e-3
    clone = SetTransformer.from_config(layer.get_config())
    assert clone.get_config()["pooling"] == "attention"
    with pytest.raises(ValueError, match="pooling.*Received: pooling='max'"):
        SetTransformer(2, pooling="max")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="divisible by `num_heads`.*dim=10, num_heads=4"):
        MultiheadAttentionBlock(10, num_heads=4)
    with pytest.raises(ValueError, match="num_outputs.*Received: num_outputs=0"):
        SetTransformer(0)
    with pytest.raises(ValueError, match="num_blocks.*Received: num_blocks=-1"):
        SetTransformer(2, num_blocks=-1)


def test_gradients_reach_every_weight_and_config_round_trips():
    layer = SetTransformer(num_outputs=2, dim=8, num_heads=2, num_inducing=2)
    x = _set()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x)))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    clone = SetTransformer.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_saves_and_loads_in_safe_mode_with_identical_outputs(tmp_path):
    x_in = keras.Input((6, 5))
    p_in = keras.Input((6,))
    out = SetTransformer(num_outputs=3, dim=8, num_heads=2, num_inducing=2)(x_in, p_in)
    pooled = SetTransformer(num_outputs=3, dim=8, num_heads=2, pooling="attention")(x_in, p_in)
    model = keras.Model([x_in, p_in], [out, pooled])
    x, p = _set(), np.random.default_rng(3).uniform(size=(3, 6)).astype("float32")
    model.save(tmp_path / "st.keras")
    loaded = keras.saving.load_model(tmp_path / "st.keras")
    for a, b in zip(model([x, p]), loaded([x, p])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_hard_masking_attends_only_to_the_most_present_keys():
    # the official SCAE code's mask: logits - (1 - presence) * 1e32
    mab = MultiheadAttentionBlock(4, num_heads=1, layer_norm=False, attention_only=True,
                                  masking="hard")
    q, k = _set(0, 2, 4, 1), _set(1, 4, 4, 1)
    out = np.asarray(mab(q, k, key_presence=np.array([[1.0, 0.3, 1.0, 0.99]], "float32")))
    # the same as attending to keys 0 and 2 alone (presence 1), with no mask
    alone = np.asarray(mab(q, k[:, [0, 2]]))
    np.testing.assert_allclose(out, alone, atol=1e-5)
    # no key fully present: all attention goes to the most present one
    top = np.asarray(mab(q, k, key_presence=np.array([[0.2, 0.6, 0.5, 0.1]], "float32")))
    np.testing.assert_allclose(top, np.asarray(mab(q, k[:, [1]])), atol=1e-5)
    # the soft ("log") mask weighs every key instead
    soft = MultiheadAttentionBlock(4, num_heads=1, layer_norm=False, attention_only=True)
    soft(q, k)
    soft.set_weights(mab.get_weights())
    assert np.abs(np.asarray(soft(q, k, key_presence=np.array([[1.0, 0.3, 1.0, 0.99]],
                                                                "float32"))) - out).max() > 1e-3


def test_hard_masking_zeroes_the_residual_of_absent_queries_in_a_set_transformer():
    x = _set()
    presence = np.ones(x.shape[:2], "float32")
    presence[:, -1] = 0.0
    layer = SetTransformer(num_outputs=2, dim=8, num_heads=2, num_blocks=1, layer_norm=False,
                           masking="hard")
    out = np.asarray(layer(x, presence))
    # what an absent part holds does not matter: its attention output and its residual
    # are both gone
    changed = x.copy()
    changed[:, -1] = 100.0
    np.testing.assert_allclose(np.asarray(layer(changed, presence)), out, atol=1e-4)
    block = layer.blocks[0][0]
    h = np.asarray(layer.input_dense(x))
    per_part = np.asarray(block(h, h, key_presence=presence, query_presence=presence))
    # the block's output for the absent part is its rFF of a zero residual: rFF(0) + 0
    zero = np.zeros((1, 1, 8), "float32")
    expected = np.asarray(block.ff_out(block.ff_hidden(zero)))[0, 0]
    np.testing.assert_allclose(per_part[:, -1], np.broadcast_to(expected, (3, 8)), atol=1e-5)
    assert SetTransformer.from_config(layer.get_config()).masking == "hard"
    with pytest.raises(ValueError, match="masking.*Received: masking='soft'"):
        SetTransformer(2, masking="soft")
