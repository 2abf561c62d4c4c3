import keras
import numpy as np
import pytest

from keras_unsup.losses import BernoulliNLL, bernoulli_nll


def reference_nll(y_true, y_pred):
    y_true = y_true.reshape(len(y_true), -1).astype("float64")
    y_pred = y_pred.reshape(len(y_pred), -1).astype("float64")
    return -np.sum(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred), axis=1)


def test_bernoulli_nll_of_a_coin_is_pixels_times_log_2():
    nll = np.asarray(bernoulli_nll(np.ones((2, 8, 8, 1)), np.full((2, 8, 8, 1), 0.5)))
    assert nll.shape == (2,)
    np.testing.assert_allclose(nll, 64 * np.log(2.0), rtol=1e-6)


def test_bernoulli_nll_matches_reference_and_keras_crossentropy():
    rng = np.random.default_rng(0)
    y_true = rng.uniform(size=(3, 5, 4, 2)).astype("float32")
    y_pred = rng.uniform(0.05, 0.95, size=(3, 5, 4, 2)).astype("float32")

    nll = np.asarray(bernoulli_nll(y_true, y_pred))
    np.testing.assert_allclose(nll, reference_nll(y_true, y_pred), rtol=1e-5)
    # Keras' crossentropy averages over the last axis; ours sums over all pixels.
    bce = keras.losses.binary_crossentropy(y_true.reshape(3, -1), y_pred.reshape(3, -1))
    np.testing.assert_allclose(nll, np.asarray(bce) * 40, rtol=1e-4)


def test_bernoulli_nll_is_finite_for_saturated_predictions():
    y_true = np.array([[0.0, 1.0]], "float32")
    y_pred = np.array([[1.0, 0.0]], "float32")
    nll = np.asarray(bernoulli_nll(y_true, y_pred, epsilon=1e-7))
    assert np.all(np.isfinite(nll))
    np.testing.assert_allclose(nll, [-2 * np.log(1e-7)], rtol=1e-2)


def test_loss_class_averages_per_image_nll_over_the_batch():
    rng = np.random.default_rng(1)
    y_true = (rng.uniform(size=(4, 6, 6, 1)) > 0.5).astype("float32")
    y_pred = rng.uniform(0.1, 0.9, size=(4, 6, 6, 1)).astype("float32")

    loss = BernoulliNLL()
    np.testing.assert_allclose(float(loss(y_true, y_pred)),
                               reference_nll(y_true, y_pred).mean(), rtol=1e-5)


def test_loss_class_config_and_serialization_round_trip():
    loss = BernoulliNLL(epsilon=1e-5, name="nll")
    config = loss.get_config()
    assert config["epsilon"] == 1e-5 and config["name"] == "nll"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, BernoulliNLL)
    assert restored.epsilon == 1e-5 and restored.name == "nll"


@pytest.mark.parametrize("epsilon", [-1e-3, 0.5, "1e-7"])
def test_bad_epsilon_raises(epsilon):
    with pytest.raises(ValueError, match="`epsilon` must be a number in"):
        BernoulliNLL(epsilon=epsilon)
