import keras
import numpy as np
import pytest

from keras_unsup.layers.clustering_layer import ClusteringLayer, target_distribution


def _reference_q(z, mu, alpha):
    # The formula of DEC's eq. 1, written out slowly.
    d2 = ((z[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    q = (1.0 + d2 / alpha) ** (-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdims=True)


@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_matches_student_t_formula(alpha):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(7, 3)).astype("float32")
    mu = rng.normal(size=(4, 3)).astype("float32")
    layer = ClusteringLayer(4, alpha=alpha, initial_centers=mu)
    q = keras.ops.convert_to_numpy(layer(z))
    assert q.shape == (7, 4)
    np.testing.assert_allclose(q, _reference_q(z, mu, alpha), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-6)


def test_code_on_a_centre_is_assigned_to_it():
    mu = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]], "float32")
    q = keras.ops.convert_to_numpy(ClusteringLayer(3, initial_centers=mu)(mu))
    assert (q.argmax(1) == np.arange(3)).all()
    assert (np.diag(q) > 0.9).all()


def test_symbolic_call_config_round_trip_and_training_step():
    layer = ClusteringLayer(3, alpha=1.0, name="clu")
    inputs = keras.Input((5,))
    out = layer(inputs)
    assert tuple(out.shape) == (None, 3)
    assert layer.compute_output_shape((None, 5)) == (None, 3)
    config = layer.get_config()
    assert config["n_clusters"] == 3 and config["alpha"] == 1.0
    clone = ClusteringLayer.from_config(config)
    assert clone.n_clusters == 3 and clone.name == "clu"

    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="kl_divergence")
    before = keras.ops.convert_to_numpy(layer.centers).copy()
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    p = target_distribution(keras.ops.convert_to_numpy(model(x)))
    model.train_on_batch(x, p)
    after = keras.ops.convert_to_numpy(layer.centers)
    assert not np.allclose(before, after)  # the centres are trainable weights


def test_set_centers_and_saved_model_round_trip(tmp_path):
    mu = np.arange(6, dtype="float32").reshape(3, 2)
    inputs = keras.Input((2,))
    layer = ClusteringLayer(3)
    model = keras.Model(inputs, layer(inputs))
    layer.set_centers(mu)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.centers), mu)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(1).normal(size=(5, 2)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_target_distribution_sharpens_and_normalises():
    q = np.array([[0.6, 0.4], [0.5, 0.5], [0.2, 0.8]])
    p = target_distribution(q)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    # Confident assignments grow more confident.
    assert p[0, 0] > q[0, 0] and p[2, 1] > q[2, 1]
    f = q.sum(0)
    w = q**2 / f
    np.testing.assert_allclose(p, w / w.sum(1, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_clusters": 1}, "n_clusters"),
        ({"n_clusters": 2.5}, "n_clusters"),
        ({"n_clusters": 3, "alpha": 0}, "alpha"),
        ({"n_clusters": 3, "initial_centers": np.zeros((2, 4))}, "initial_centers"),
        ({"n_clusters": 2, "initial_centers": [[0, np.nan], [1, 1]]}, "finite"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClusteringLayer(**kwargs)


def test_centres_of_wrong_width_and_bad_set_centers():
    layer = ClusteringLayer(2, initial_centers=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="columns"):
        layer(np.zeros((4, 5), "float32"))
    layer = ClusteringLayer(2)
    layer(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="shape"):
        layer.set_centers(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        layer.set_centers(np.full((2, 3), np.inf))
    with pytest.raises(ValueError, match="q"):
        target_distribution(np.zeros(3))
