import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_unsup.layers import KLDivergence


def analytic_kl(mean, log_var):
    per_example = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)
    return per_example.mean()


def random_posterior(batch=6, latent_dim=3, seed=0):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(batch, latent_dim)).astype("float32")
    log_var = rng.normal(scale=0.5, size=(batch, latent_dim)).astype("float32")
    return mean, log_var


def test_adds_analytic_kl_and_passes_inputs_through():
    mean, log_var = random_posterior()
    layer = KLDivergence()
    out_mean, out_log_var = layer([mean, log_var])

    np.testing.assert_array_equal(np.asarray(out_mean), mean)
    np.testing.assert_array_equal(np.asarray(out_log_var), log_var)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), analytic_kl(mean, log_var), rtol=1e-5)


# TensorFlow Probability refuses to import once TensorFlow is loaded unless tf_keras
# is installed, so the reference value is computed in a fresh interpreter with TFP's
# NumPy substrate (the same distribution code, before TensorFlow is imported).
_TFP_KL_SCRIPT = """
import json, sys
import numpy as np
from tensorflow_probability.substrates import numpy as tfp
tfd = tfp.distributions
mean, log_var = (np.asarray(a, "float64") for a in json.load(sys.stdin))
posterior = tfd.MultivariateNormalDiag(loc=mean, scale_diag=np.exp(0.5 * log_var))
prior = tfd.MultivariateNormalDiag(loc=np.zeros_like(mean[0]), scale_diag=np.ones_like(mean[0]))
print(json.dumps(float(np.mean(tfd.kl_divergence(posterior, prior)))))
"""


def tfp_kl(mean, log_var):
    result = subprocess.run(
        [sys.executable, "-c", _TFP_KL_SCRIPT],
        input=json.dumps([mean.tolist(), log_var.tolist()]),
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if result.returncode != 0:
        pytest.skip(f"TensorFlow Probability is not usable here: {result.stderr[-300:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a fresh interpreter importing TFP takes seconds
def test_matches_tensorflow_probability_kl():
    mean, log_var = random_posterior(batch=5, latent_dim=4, seed=1)
    layer = KLDivergence()
    layer([mean, log_var])
    np.testing.assert_allclose(float(layer.losses[0]), tfp_kl(mean, log_var), rtol=1e-5)


def test_kl_is_zero_at_the_prior_and_scales_with_weight():
    zeros = np.zeros((3, 2), "float32")
    layer = KLDivergence()
    layer([zeros, zeros])
    assert float(layer.losses[0]) == pytest.approx(0.0, abs=1e-7)

    mean, log_var = random_posterior()
    weighted = KLDivergence(weight=0.25)
    weighted([mean, log_var])
    np.testing.assert_allclose(float(weighted.losses[0]), 0.25 * analytic_kl(mean, log_var),
                               rtol=1e-5)


def test_functional_model_config_round_trip_and_training_step():
    latent_dim = 2
    inputs = keras.Input(shape=(4,))
    mean = keras.layers.Dense(latent_dim)(inputs)
    log_var = keras.layers.Dense(latent_dim)(inputs)
    layer = KLDivergence(weight=2.0, name="kl")
    mean, log_var = layer([mean, log_var])
    assert tuple(mean.shape) == (None, latent_dim)
    assert tuple(log_var.shape) == (None, latent_dim)
    model = keras.Model(inputs, mean)

    config = layer.get_config()
    assert config["weight"] == 2.0
    clone = KLDivergence.from_config(config)
    assert clone.weight == 2.0 and clone.name == "kl"

    # With a zero target for z_mean the KL term dominates what training reduces.
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = np.zeros((16, latent_dim), "float32")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=False)
    losses = [float(model.train_on_batch(x, y)) for _ in range(10)]
    assert losses[-1] < losses[0]
    assert len(model.losses) == 1


@pytest.mark.parametrize("weight", [-1.0, "1", True])
def test_bad_weight_raises(weight):
    with pytest.raises(ValueError, match=r"`weight` must be a number in \[0, inf\)"):
        KLDivergence(weight=weight)


def test_call_requires_a_pair():
    with pytest.raises(ValueError, match="z_mean, z_log_var"):
        KLDivergence()(np.zeros((2, 2), "float32"))
