import keras
import numpy as np
import pytest

from keras_unsup.models.rbm import RBM


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _tiny_rbm(k=1, persistent=False, n_chains=None, seed=0):
    rbm = RBM(4, 3, k=k, persistent=persistent, n_chains=n_chains, seed=seed)
    rng = np.random.default_rng(1)
    rbm.kernel.assign(rng.normal(0, 1.0, (4, 3)).astype(np.float32))
    rbm.visible_bias.assign(np.array([0.1, -0.2, 0.3, 0.0], np.float32))
    rbm.hidden_bias.assign(np.array([-0.1, 0.2, 0.05], np.float32))
    return rbm


def _fixed_noise(rbm, n, k, seed):
    rng = np.random.default_rng(seed)
    hidden = rng.uniform(size=(k, n, rbm.hidden_units)).astype(np.float32)
    visible = rng.uniform(size=(k, n, rbm.n_visible)).astype(np.float32)
    rbm.draw_noise = lambda *args, **kwargs: (list(hidden), list(visible))
    return hidden, visible


@pytest.mark.parametrize("k, persistent", [(1, False), (2, False), (1, True)])
def test_cd_update_matches_a_hand_computation(k, persistent):
    v0 = np.array([[1, 0, 1, 1], [0, 1, 0.5, 0]], np.float32)
    rbm = _tiny_rbm(k=k, persistent=persistent, n_chains=3)
    W, b, c = (np.array(keras.ops.convert_to_numpy(w)) for w in
               (rbm.kernel, rbm.visible_bias, rbm.hidden_bias))
    chains = np.array(keras.ops.convert_to_numpy(rbm.chains)) if persistent else None
    start = chains if persistent else v0
    hidden_noise, visible_noise = _fixed_noise(rbm, len(start), k, seed=2)
    lr = 0.5
    rbm.compile(optimizer=keras.optimizers.SGD(lr))
    rbm.train_on_batch(v0)

    # By hand (Hinton 2002): h0 ~ p(h|start), v_t ~ p(v|h_{t-1}), h_t ~ p(h|v_t), ...
    h = (hidden_noise[0] < _sigmoid(start @ W + c)).astype(np.float32)
    for t in range(k):
        v = (visible_noise[t] < _sigmoid(h @ W.T + b)).astype(np.float32)
        if t + 1 < k:
            h = (hidden_noise[t + 1] < _sigmoid(v @ W + c)).astype(np.float32)
    ph0, phk = _sigmoid(v0 @ W + c), _sigmoid(v @ W + c)
    positive, negative = v0.T @ ph0 / len(v0), v.T @ phk / len(v)
    np.testing.assert_allclose(rbm.kernel.numpy(), W + lr * (positive - negative), atol=1e-5)
    np.testing.assert_allclose(rbm.visible_bias.numpy(),
                               b + lr * (v0.mean(0) - v.mean(0)), atol=1e-5)
    np.testing.assert_allclose(rbm.hidden_bias.numpy(),
                               c + lr * (ph0.mean(0) - phk.mean(0)), atol=1e-5)
    assert not np.allclose(positive, negative)  # the update is not trivially zero
    if persistent:  # PCD: the chains keep the chain's last state
        np.testing.assert_array_equal(rbm.chains.numpy(), v)


def test_free_energy_and_features_match_scikit_learn():
    from sklearn.neural_network import BernoulliRBM

    rbm = _tiny_rbm()
    sk = BernoulliRBM(n_components=3)
    sk.components_ = rbm.kernel.numpy().T.astype(np.float64)
    sk.intercept_hidden_ = rbm.hidden_bias.numpy().astype(np.float64)
    sk.intercept_visible_ = rbm.visible_bias.numpy().astype(np.float64)
    sk.n_features_in_ = 4
    x = np.random.default_rng(0).uniform(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(rbm.free_energy(x), sk._free_energy(x), rtol=1e-5)
    np.testing.assert_allclose(rbm.transform(x), sk.transform(x), rtol=1e-5)


def test_pseudo_likelihood_is_scikit_learns_score_samples():
    # With one visible unit the flipped bit is always that one: no randomness left.
    from sklearn.neural_network import BernoulliRBM

    rbm = RBM(1, 3, seed=0)
    rbm.kernel.assign(np.array([[0.5, -1.0, 2.0]], np.float32))
    rbm.visible_bias.assign(np.array([0.3], np.float32))
    rbm.compile()
    sk = BernoulliRBM(n_components=3, random_state=0)
    sk.components_ = rbm.kernel.numpy().T.astype(np.float64)
    sk.intercept_hidden_ = rbm.hidden_bias.numpy().astype(np.float64)
    sk.intercept_visible_ = rbm.visible_bias.numpy().astype(np.float64)
    sk.n_features_in_ = 1
    x = np.array([[0.0], [1.0], [1.0], [0.0]], np.float32)
    logs = rbm.evaluate(x, batch_size=4, verbose=0, return_dict=True)
    assert logs["pseudo_likelihood"] == pytest.approx(sk.score_samples(x).mean(), rel=1e-5)
    assert logs["free_energy"] == pytest.approx(sk._free_energy(x).mean(), rel=1e-5)


@pytest.mark.slow
def test_free_energy_is_lower_on_training_data_than_on_shuffled_pixels():
    from keras_unsup import load_dataset

    keras.utils.set_random_seed(0)
    x = load_dataset("digits").x_train
    rng = np.random.default_rng(0)
    shuffled = np.stack([rng.permutation(img.ravel()) for img in x]).reshape(x.shape)
    rbm = RBM((8, 8, 1), 64, seed=0)
    gap_before = rbm.free_energy(shuffled).mean() - rbm.free_energy(x).mean()
    rbm.compile(optimizer=keras.optimizers.SGD(0.1))
    history = rbm.fit(x, batch_size=32, epochs=10, verbose=0)
    gap_after = rbm.free_energy(shuffled).mean() - rbm.free_energy(x).mean()
    assert abs(gap_before) < 1.0 < 10.0 < gap_after
    errors = history.history["reconstruction_error"]
    assert errors[-1] < errors[0]


@pytest.mark.slow
def test_pcd_chains_persist_across_steps_and_survive_save_and_load(tmp_path):
    from keras_unsup import load_dataset

    x = load_dataset("digits").x_train[:256]
    rbm = RBM((8, 8, 1), 16, persistent=True, n_chains=10, k=3, seed=0)
    rbm.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5))
    initial = rbm.chains.numpy().copy()
    rbm.fit(x, batch_size=32, epochs=1, verbose=0)
    after_one = rbm.chains.numpy().copy()
    assert after_one.shape == (10, 64) and not np.allclose(after_one, initial)
    assert set(np.unique(after_one)) <= {0.0, 1.0}  # Bernoulli states of the chains
    rbm.fit(x, batch_size=32, epochs=1, verbose=0)
    assert not np.array_equal(rbm.chains.numpy(), after_one)  # they went on, not restarted
    path = tmp_path / "rbm.keras"
    rbm.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is RBM and loaded.persistent and loaded.k == 3
    np.testing.assert_array_equal(loaded.chains.numpy(), rbm.chains.numpy())
    np.testing.assert_array_equal(loaded.transform(x), rbm.transform(x))
    np.testing.assert_array_equal(loaded.free_energy(x), rbm.free_energy(x))
    np.testing.assert_array_equal(loaded.sample(5, 20, seed=3), rbm.sample(5, 20, seed=3))
    assert int(loaded.optimizer.iterations.numpy()) == int(rbm.optimizer.iterations.numpy())


def test_gaussian_rbm_takes_real_inputs():
    x = np.random.default_rng(0).standard_normal((64, 5)).astype(np.float32) * 2 - 1
    rbm = RBM(5, 4, visible="gaussian", seed=0)
    rbm.compile(optimizer=keras.optimizers.SGD(0.01))
    history = rbm.fit(x, batch_size=16, epochs=2, verbose=0)
    assert set(history.history) == {"free_energy", "reconstruction_error"}
    # F(v) = ½‖v - b‖² - Σ softplus(c + vW)
    W, b, c = rbm.kernel.numpy(), rbm.visible_bias.numpy(), rbm.hidden_bias.numpy()
    expected = 0.5 * ((x - b) ** 2).sum(1) - np.logaddexp(0, x @ W + c).sum(1)
    np.testing.assert_allclose(rbm.free_energy(x), expected, rtol=1e-4)
    h = rbm.transform(x)
    np.testing.assert_allclose(rbm.reconstruct(x), h @ W.T + b, rtol=1e-4, atol=1e-5)


def test_gibbs_returns_the_chain_and_is_seeded():
    rbm = _tiny_rbm()
    v = np.array([[1, 0, 1, 0]] * 3, np.float32)
    chain = rbm.gibbs(v, 7, seed=1, return_chain=True)
    assert chain.shape == (7, 3, 4) and 0.0 <= chain.min() and chain.max() <= 1.0
    np.testing.assert_array_equal(rbm.gibbs(v, 7, seed=1), chain[-1])
    assert not np.array_equal(chain[0], chain[-1])


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "`k` must be an integer >= 1. Received: k=0"),
    ({"hidden_units": 0}, "`hidden_units`"),
    ({"visible": "binary"}, "`visible` must be one of"),
    ({"n_chains": 0, "persistent": True}, "`n_chains`"),
    ({"visible_shape": (8, 0)}, "`visible_shape`"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    args = {"visible_shape": 4, "hidden_units": 3, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        RBM(**args)


def test_bad_inputs_are_clear_errors_before_any_work():
    rbm = RBM(4, 3, seed=0)
    rbm.compile()
    with pytest.raises(ValueError, match=r"`x` must hold values in \[0.0, 1.0\]"):
        rbm.fit(np.full((8, 4), 2.0, np.float32), epochs=1, verbose=0)
    assert int(rbm.optimizer.iterations.numpy()) == 0
    with pytest.raises(ValueError, match="`x` must hold only finite values"):
        rbm.transform(np.array([[0.5, np.nan, 0.1, 0.2]]))
    with pytest.raises(ValueError, match=r"`v` must have shape \(n, 4\)"):
        rbm.free_energy(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="`steps`"):
        rbm.gibbs(np.zeros((2, 4)), 0)
    RBM(4, 3, visible="gaussian").transform(np.full((2, 4), -3.0))  # real inputs are fine
