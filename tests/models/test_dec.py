import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from keras_unsup.evaluation.metrics import cluster_accuracy
from keras_unsup.models.dec import DEC, IDEC

SHAPE = (4, 4, 1)


def _blobs(n_per=20, k=3, seed=0):
    """`k` well separated groups of 4x4 'images' and their group labels."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, size=(k, 16))
    x = np.concatenate([c + 0.03 * rng.normal(size=(n_per, 16)) for c in centres])
    y = np.repeat(np.arange(k), n_per)
    return x.reshape(-1, *SHAPE).astype("float32"), y


def _nets(seed=0, code=3):
    keras.utils.set_random_seed(seed)
    image = keras.Input(SHAPE)
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(image))
    encoder = keras.Model(image, keras.layers.Dense(code)(h), name="encoder")
    z = keras.Input((code,))
    out = keras.layers.Reshape(SHAPE)(keras.layers.Dense(16, activation="sigmoid")(z))
    decoder = keras.Model(z, out, name="decoder")
    return encoder, decoder


def _dec(cls=DEC, seed=0, **kwargs):
    encoder, decoder = _nets(seed)
    args = (encoder,) if cls is DEC else (encoder, decoder)
    settings = {"n_clusters": 3, "update_interval": 5, "max_iter": 20, "batch_size": 16, "n_init": 3, "seed": 0}
    settings.update(kwargs)
    return cls(*args, **settings)


@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_fit_returns_self_and_clusters_separated_groups(cls):
    x, y = _blobs()
    model = _dec(cls)
    assert model.fit(x) is model
    assert model.labels_.shape == (len(x),)
    assert cluster_accuracy(y, model.labels_) == 1.0
    assert model.cluster_centers_.shape == (3, 3)
    # labels_ are the labels of the final model
    np.testing.assert_array_equal(model.predict(x), model.labels_)
    q = model.predict_proba(x)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
    assert model.transform(x).shape == (len(x), 3)
    assert 0 < model.n_iter_ <= 20
    assert model.history_[0]["iteration"] == 0 and "loss" in model.history_[0]


def test_fit_predict_equals_fit_labels():
    x, _ = _blobs()
    a = _dec().fit_predict(x)
    b = _dec().fit(x).labels_
    np.testing.assert_array_equal(a, b)


def test_self_training_sharpens_assignments_and_moves_centres():
    x, _ = _blobs(seed=3)
    start = _dec(max_iter=0).fit(x)  # k-means initialisation only
    trained = _dec(max_iter=20, tol=0.0)
    trained.compile(optimizer=keras.optimizers.Adam(0.01))
    trained.fit(x)
    assert len([h for h in trained.history_ if "loss" in h]) == 4
    # DEC's self-training makes the soft assignments more confident.
    assert trained.predict_proba(x).max(1).mean() > start.predict_proba(x).max(1).mean() + 0.05
    assert not np.allclose(trained.cluster_centers_, start.cluster_centers_)


def test_tol_stops_at_the_first_refresh():
    x, _ = _blobs()
    model = _dec(tol=1.0, update_interval=4, max_iter=100).fit(x)
    assert model.converged_ and model.n_iter_ == 4
    model = _dec(tol=0.0, update_interval=4, max_iter=12).fit(x)
    assert not model.converged_ and model.n_iter_ == 12


def test_idec_keeps_reconstruction_loss():
    x, _ = _blobs()
    model = _dec(IDEC, gamma=0.5)
    model.fit(x)
    logs = model.get_metrics_result()
    assert set(logs) == {"loss", "reconstruction_loss", "clustering_loss"}
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"]
                               + 0.5 * logs["clustering_loss"], rtol=1e-4)


def test_resume_from_checkpoint_matches_an_uninterrupted_fit(tmp_path):
    x, _ = _blobs(seed=1)
    full = _dec(tol=0.0, max_iter=20).fit(x)
    # Interrupted after 10 steps, then resumed by a fresh model built the same way.
    _dec(tol=0.0, max_iter=10).fit(x, checkpoint_dir=tmp_path)
    resumed = _dec(tol=0.0, max_iter=20).fit(x, checkpoint_dir=tmp_path)
    assert resumed.n_iter_ == 20
    assert [h["iteration"] for h in resumed.history_] == [0, 5, 10, 15, 20]
    np.testing.assert_allclose(resumed.cluster_centers_, full.cluster_centers_, atol=1e-5)
    np.testing.assert_array_equal(resumed.labels_, full.labels_)


def test_checkpoint_of_other_data_is_refused(tmp_path):
    x, _ = _blobs()
    _dec(max_iter=5).fit(x, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        _dec(max_iter=5).fit(x[:30], checkpoint_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_save_and_load_keras_file(cls, tmp_path):
    x, _ = _blobs()
    model = _dec(cls, max_iter=10).fit(x)
    path = tmp_path / "dec.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, cls)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    np.testing.assert_array_equal(loaded.predict(x), model.labels_)
    np.testing.assert_array_equal(loaded.cluster_centers_, model.cluster_centers_)
    assert loaded.get_config()["n_clusters"] == 3
    if cls is IDEC:
        assert loaded.gamma == model.gamma


def test_predict_before_fit():
    x, _ = _blobs()
    model = _dec()
    with pytest.raises(NotFittedError, match="fit"):
        model.predict(x)
    with pytest.raises(ValueError, match="fit"):
        _ = model.cluster_centers_


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data(bad):
    x, _ = _blobs()
    x[3, 1, 1, 0] = bad
    with pytest.raises(ValueError, match="finite"):
        _dec().fit(x)


def test_wrong_image_shape():
    x, _ = _blobs()
    model = _dec(max_iter=0).fit(x)
    with pytest.raises(ValueError, match=r"shape \(n, 4, 4, 1\).*Received: x.shape=\(5, 8, 8, 1\)"):
        model.predict(np.zeros((5, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="x.shape"):
        _dec().fit(np.zeros((10, 16), "float32"))


def test_more_clusters_than_samples():
    x, _ = _blobs()
    with pytest.raises(ValueError, match="n_clusters.*<= the number of samples"):
        _dec(n_clusters=5).fit(x[:4])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_clusters": 1}, "n_clusters"),
        ({"update_interval": 0}, "update_interval"),
        ({"tol": 2.0}, "tol"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_iter": -1}, "max_iter"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _dec(**kwargs)


def test_bad_networks():
    encoder, decoder = _nets()
    with pytest.raises(ValueError, match="encoder"):
        DEC("not a model", n_clusters=3)
    wrong = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8)])
    with pytest.raises(ValueError, match="decoder"):
        IDEC(encoder, wrong, n_clusters=3)
    with pytest.raises(ValueError, match="gamma"):
        IDEC(encoder, decoder, n_clusters=3, gamma=0)


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[1])
    import keras
    import test_dec as t
    from keras_unsup.models.dec import DEC, IDEC

    x, _ = t._blobs(seed=2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    for cls in (DEC, IDEC):
        single = t._dec(cls, tol=0.0, max_iter=15, update_interval=5).fit(x)
        with strategy.scope():
            mirrored = t._dec(cls, tol=0.0, max_iter=15, update_interval=5)
            mirrored.fit(x)
        assert mirrored.distribute_strategy is strategy
        np.testing.assert_allclose(mirrored.cluster_centers_, single.cluster_centers_,
                                   atol=1e-4)
        np.testing.assert_allclose(mirrored.predict_proba(x), single.predict_proba(x),
                                   atol=1e-4)
        np.testing.assert_array_equal(mirrored.labels_, single.labels_)
        moved = np.abs(mirrored.encoder.get_weights()[0]
                       - t._nets()[0].get_weights()[0]).max()
        assert moved > 1e-4, moved  # training really happened under the strategy
    print("MIRRORED-OK")
    """
)


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device(tmp_path):
    # Logical devices must be set before TensorFlow starts: a fresh interpreter.
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED_SCRIPT)
    import os

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, str(script), os.path.dirname(__file__)],
                            capture_output=True, text=True, timeout=600, env=env,
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "MIRRORED-OK" in result.stdout
