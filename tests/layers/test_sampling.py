import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.layers import Sampling


def test_seeded_samples_have_the_given_mean_and_std():
    n = 20000
    mean = np.array([1.0, -2.0], "float32")
    std = np.array([2.0, 0.5], "float32")
    z_mean = np.tile(mean, (n, 1))
    z_log_var = np.tile(np.log(std**2), (n, 1))

    z = np.asarray(Sampling(seed=42)([z_mean, z_log_var]))

    assert z.shape == (n, 2)
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), std, rtol=0.03)
    # independent dimensions
    assert abs(np.corrcoef(z.T)[0, 1]) < 0.03


def test_seed_makes_draws_reproducible():
    zeros = np.zeros((8, 3), "float32")
    a = np.asarray(Sampling(seed=7)([zeros, zeros]))
    b = np.asarray(Sampling(seed=7)([zeros, zeros]))
    c = np.asarray(Sampling(seed=8)([zeros, zeros]))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # successive calls of one layer draw fresh noise
    layer = Sampling(seed=7)
    assert not np.allclose(np.asarray(layer([zeros, zeros])), np.asarray(layer([zeros, zeros])))


def test_gradients_flow_through_mean_and_log_var():
    z_mean = tf.Variable(np.zeros((5, 2), "float32"))
    z_log_var = tf.Variable(np.zeros((5, 2), "float32"))
    layer = Sampling(seed=0)
    with tf.GradientTape() as tape:
        z = layer([z_mean, z_log_var])
        total = tf.reduce_sum(z)
    grad_mean, grad_log_var = tape.gradient(total, [z_mean, z_log_var])
    np.testing.assert_allclose(grad_mean.numpy(), np.ones((5, 2)))
    # d z / d log_var = 0.5 * exp(0.5 * log_var) * eps = 0.5 * z at mean 0, log_var 0
    np.testing.assert_allclose(grad_log_var.numpy(), 0.5 * z.numpy(), rtol=1e-6)


def test_symbolic_call_and_config_round_trip():
    mean = keras.Input(shape=(3,))
    log_var = keras.Input(shape=(3,))
    layer = Sampling(seed=3, name="sampling")
    z = layer([mean, log_var])
    assert tuple(z.shape) == (None, 3)

    config = layer.get_config()
    assert config["seed"] == 3
    clone = Sampling.from_config(config)
    assert clone.seed == 3 and clone.name == "sampling"


@pytest.mark.parametrize("seed", [1.5, "0", True])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="`seed` must be an integer >= 0 or None"):
        Sampling(seed=seed)
