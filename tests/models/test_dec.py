import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.callbacks.target_distribution_refresh import TargetDistributionRefresh
from keras_unsup.evaluation.metrics import cluster_accuracy
from keras_unsup.layers.clustering_layer import target_distribution
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


def _model(cls=DEC, seed=0, optimizer=None, **kwargs):
    encoder, decoder = _nets(seed)
    args = (encoder,) if cls is DEC else (encoder, decoder)
    model = cls(*args, n_clusters=3, **kwargs)
    model.compile(optimizer=optimizer)
    return model


def _refresh(x, **kwargs):
    settings = {"update_interval": 5, "batch_size": 16, "n_init": 3, "seed": 0, "tol": 0.0}
    settings.update(kwargs)
    return TargetDistributionRefresh(x, **settings)


def _fit(model, x, epochs=4, callbacks=(), **kwargs):
    refresh = _refresh(x, **kwargs)
    history = model.fit(refresh.dataset(), epochs=epochs, callbacks=[refresh, *callbacks],
                        shuffle=False, verbose=0)
    return refresh, history


@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_keras_fit_with_the_refresh_clusters_separated_groups(cls):
    x, y = _blobs()
    model = _model(cls)
    refresh, history = _fit(model, x, epochs=4, tol=1e-3)  # the paper's tol
    # Keras' own predict: soft assignments q, rows summing to 1.
    q = model.predict(x, verbose=0)
    assert q.shape == (len(x), 3)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(q.argmax(1), refresh.labels)
    assert cluster_accuracy(y, refresh.labels) == 1.0
    # k-means already separates the groups: no label changes at the first refresh,
    # after one update interval (one Keras epoch), so training stops there.
    assert refresh.converged and history.epoch == [0]
    assert [h["iteration"] for h in refresh.history] == [5]
    assert int(model.optimizer.iterations) == 5
    assert history.history["delta_label"] == [0.0]
    assert model.cluster_centers.shape == (3, 3) and model.centers_initialized
    # The target the training data pairs with the images is p of the final q.
    np.testing.assert_allclose(refresh.target, target_distribution(q), atol=1e-5)


def test_the_batches_pair_each_image_with_its_current_target():
    x, _ = _blobs()
    model = _model()
    refresh = _refresh(x, update_interval=2, batch_size=8)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((epoch, refresh.target.copy()))

    model.fit(refresh.dataset(), epochs=2, callbacks=[refresh, Record()], verbose=0,
              shuffle=False)
    flat = x.reshape(len(x), -1)
    for images, p in refresh.dataset().as_numpy_iterator():
        rows = [int(np.argmin(np.abs(flat - img.reshape(1, -1)).sum(1))) for img in images]
        np.testing.assert_allclose(p, refresh.target[rows], atol=1e-6)
    # p changed between the two epochs: each epoch trained on the target refreshed before it.
    assert not np.allclose(seen[0][1], seen[1][1])


def test_fit_takes_keras_arguments_and_callbacks():
    x, _ = _blobs()
    model = _model()
    model.init_centers(x, n_init=2, seed=0)
    p = target_distribution(model.predict(x, verbose=0))
    ds = tf.data.Dataset.from_tensor_slices((x, p)).batch(20)
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[
        keras.callbacks.EarlyStopping(monitor="loss", patience=2),
        keras.callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations) == 3
    steps = model.fit(ds.repeat(), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    assert len(steps.history["loss"]) == 1 and int(model.optimizer.iterations) == 5
    with pytest.raises(ValueError, match=r"pairs `\(images, p\)`"):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(20), epochs=1, verbose=0,
                  shuffle=False)


def test_early_stopping_on_the_label_change_stops_the_refreshes():
    x, _ = _blobs()
    refresh, history = _fit(_model(), x, epochs=10, callbacks=[
        keras.callbacks.EarlyStopping(monitor="delta_label", patience=1, mode="min")])
    assert len(history.epoch) < 10 and len(refresh.history) == len(history.epoch)


def test_tol_stops_at_the_first_refresh_below_it():
    x, _ = _blobs()
    model = _model()
    refresh, history = _fit(model, x, epochs=5, tol=1.0)
    assert refresh.converged and history.epoch == [0]
    assert int(model.optimizer.iterations) == 5
    refresh, history = _fit(_model(), x, epochs=3, tol=0.0)
    assert not refresh.converged and history.epoch == [0, 1, 2]
    assert [h["iteration"] for h in refresh.history] == [5, 10, 15]
    assert history.history["delta_label"] == [h["delta_label"] for h in refresh.history]
    assert history.history["loss"] == [h["loss"] for h in refresh.history]


def test_self_training_sharpens_assignments_and_moves_centres():
    x, _ = _blobs(seed=3)
    model = _model(optimizer=keras.optimizers.Adam(0.01))
    start_labels = model.init_centers(x, n_init=3, seed=0)
    start_q = model.predict(x, verbose=0)
    start_centres = model.cluster_centers
    # k-means labels are the argmax of q: the centres are the nearest ones.
    np.testing.assert_array_equal(start_q.argmax(1), start_labels)
    _fit(model, x, epochs=4)
    # DEC's self-training makes the soft assignments more confident.
    assert model.predict(x, verbose=0).max(1).mean() > start_q.max(1).mean() + 0.05
    assert not np.allclose(model.cluster_centers, start_centres)


def test_an_initialised_model_keeps_its_centres():
    x, _ = _blobs()
    model = _model()
    centres = np.eye(3, 3, dtype="float32")
    model.set_centers(centres)
    refresh = _refresh(x)
    refresh.set_model(model)
    refresh.on_train_begin()
    refresh.on_epoch_begin(0)  # no k-means: the centres were set
    np.testing.assert_array_equal(model.cluster_centers, centres)


def test_idec_loss_adds_reconstruction():
    x, _ = _blobs()
    model = _model(IDEC, gamma=0.5)
    _fit(model, x, epochs=1)
    logs = model.get_metrics_result()
    assert set(logs) == {"loss", "reconstruction_loss", "clustering_loss"}
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"]
                               + 0.5 * logs["clustering_loss"], rtol=1e-4)
    assert logs["reconstruction_loss"] > 0


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_backup_and_restore_resumes_as_the_uninterrupted_fit(cls, tmp_path):
    x, _ = _blobs(seed=1)
    full = _model(cls)
    full_refresh, _ = _fit(full, x, epochs=4)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(cls), x, epochs=4, callbacks=[_Interrupt(2), backup])
    # A fresh model built the same way (other weights: seed 5) resumes at epoch 2.
    resumed = _model(cls, seed=5)
    refresh, history = _fit(resumed, x, epochs=4,
                            callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert history.epoch == [2, 3]
    assert int(resumed.optimizer.iterations) == 20
    np.testing.assert_allclose(resumed.cluster_centers, full.cluster_centers, atol=1e-5)
    np.testing.assert_allclose(resumed.predict(x, verbose=0), full.predict(x, verbose=0),
                               atol=1e-5)
    np.testing.assert_array_equal(refresh.labels, full_refresh.labels)
    # The resumed refreshes are those of the uninterrupted fit's last two intervals.
    assert [h["iteration"] for h in refresh.history] == [15, 20]
    for key in ("loss", "delta_label"):
        np.testing.assert_allclose([h[key] for h in refresh.history],
                                   [h[key] for h in full_refresh.history[2:]], rtol=1e-4)


def test_no_epoch_still_initialises_the_centres():
    x, _ = _blobs()
    model = _model()
    refresh, _ = _fit(model, x, epochs=0)
    assert model.centers_initialized and refresh.history == []
    np.testing.assert_array_equal(refresh.labels, model.predict(x, verbose=0).argmax(1))


@pytest.mark.slow
@pytest.mark.parametrize("cls, augment", [(DEC, False), (IDEC, False), (DEC, True)])
def test_save_and_load_keras_file_in_safe_mode(cls, augment, tmp_path):
    from keras_unsup.data.views import RandomAffine

    x, _ = _blobs()
    model = _model(cls, augmentation=RandomAffine(10, 0.1, seed=2) if augment else None)
    _fit(model, x, epochs=2)
    path = tmp_path / "dec.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is cls and loaded.centers_initialized
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded.cluster_centers, model.cluster_centers)
    assert loaded.get_config()["n_clusters"] == 3
    assert int(loaded.optimizer.iterations) == 10
    if cls is IDEC:
        assert loaded.gamma == model.gamma
    if augment:  # the layer and its settings travel with the model
        assert type(loaded.augmentation) is RandomAffine
        assert loaded.augmentation.get_config() == model.augmentation.get_config()


def test_init_centers_checks_its_data():
    x, _ = _blobs()
    model = _model()
    with pytest.raises(ValueError, match="n_clusters.*n_samples=2"):
        model.init_centers(x[:2])
    bad = x.copy()
    bad[3, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        model.init_centers(bad)
    with pytest.raises(ValueError, match=r"x.*\(n, 4, 4, 1\).*Received: x.shape=\(5, 8, 8, 1\)"):
        model.init_centers(np.zeros((5, 8, 8, 1), "float32"))
    assert not model.centers_initialized


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_clusters": 1}, "n_clusters"),
        ({"n_clusters": 2.5}, "n_clusters"),
        ({"alpha": 0}, "alpha"),
        ({"gamma": 0}, "gamma"),
    ],
)
def test_bad_arguments(kwargs, message):
    encoder, decoder = _nets()
    settings = {"n_clusters": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        IDEC(encoder, decoder, **settings)


def test_bad_networks():
    encoder, _ = _nets()
    with pytest.raises(ValueError, match="`encoder` must be a keras.Model"):
        DEC("not a model", n_clusters=3)
    wrong = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8)])
    with pytest.raises(ValueError, match="`decoder` must output images"):
        IDEC(encoder, wrong, n_clusters=3)


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device():
    # Logical devices must be set before TensorFlow starts: a fresh interpreter.
    script = Path(__file__).with_name("_mirrored_dec.py")
    proc = subprocess.run([sys.executable, str(script)], check=False, capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("DEC", "IDEC"):
        r = results[name]
        assert r["replicas"] == 2
        assert r["centres_gap"] < 1e-4 and r["q_gap"] < 1e-4, r
        assert r["labels_equal"] and r["same_history"]
        assert r["moved"] > 1e-4  # training really happened under the strategy


# --- DEC-DA: augmentation in the clustering phase ----------------------------------------

def _one_step_loss(model, x, p):
    logs = model.train_step((tf.constant(x), tf.constant(p)))
    return float(logs["loss"])


def _expected_loss(model, images, p):
    """The loss of `model` on `images` against `p`, computed outside its train step."""
    q = model.predict(images, verbose=0)
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    if isinstance(model, IDEC):
        recon = model.decoder.predict(model.encoder.predict(images, verbose=0), verbose=0)
        return np.mean(np.square(recon - images)) + model.gamma * kl
    return kl


@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_augmentation_changes_the_training_images_not_the_predictions(cls):
    x, _ = _blobs()
    plain = _model(cls)
    blank = _model(cls, augmentation=keras.layers.Rescaling(0.0))  # every image -> black
    for model in (plain, blank):
        model.init_centers(x, n_init=2, seed=0)
    np.testing.assert_array_equal(blank.predict(x, verbose=0), plain.predict(x, verbose=0))
    p = target_distribution(plain.predict(x, verbose=0))
    # A step's loss is that of the augmented (here black) images against the clean p.
    expected_blank = _expected_loss(blank, np.zeros_like(x), p)
    expected_plain = _expected_loss(plain, x, p)
    assert abs(expected_blank - expected_plain) > 1e-3
    assert _one_step_loss(blank, x, p) == pytest.approx(expected_blank, rel=1e-4)
    assert _one_step_loss(plain, x, p) == pytest.approx(expected_plain, rel=1e-4)


@pytest.mark.slow
def test_a_seeded_augmentation_resumes_with_the_same_draws(tmp_path):
    from keras_unsup.data.views import RandomAffine

    x, _ = _blobs(seed=1)
    x = np.clip(np.tile(x, (1, 2, 2, 1)), 0, 1)  # 8x8: something to shift and rotate

    def model(seed=0):
        keras.utils.set_random_seed(seed)
        image = keras.Input((8, 8, 1))
        h = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(image))
        encoder = keras.Model(image, keras.layers.Dense(3)(h))
        dec = DEC(encoder, 3, augmentation=RandomAffine(rotation=10, translation=0.2, seed=3))
        dec.compile()
        return dec

    full = model()
    _fit(full, x, epochs=4)
    with pytest.raises(KeyboardInterrupt):
        _fit(model(), x, epochs=4, callbacks=[
            _Interrupt(2), keras.callbacks.BackupAndRestore(str(tmp_path / "b"))])
    resumed = model(seed=5)
    _fit(resumed, x, epochs=4, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "b"))])
    np.testing.assert_allclose(resumed.cluster_centers, full.cluster_centers, atol=1e-5)
    # The draws matter: another seed of the batch order and transforms ends elsewhere.
    other = model()
    _fit(other, x, epochs=4, seed=7)
    assert not np.allclose(other.cluster_centers, full.cluster_centers, atol=1e-3)


def test_augmentation_must_be_a_layer():
    encoder, _ = _nets()
    with pytest.raises(ValueError, match="augmentation"):
        DEC(encoder, 3, augmentation="shift")


def test_the_refresh_keeps_the_k_means_start_only_when_it_made_it():
    x, _ = _blobs()
    model = _model()
    refresh, _ = _fit(model, x, epochs=2)
    # The start: k-means' labels of the pretrained codes (the same seeded k-means).
    fresh = _model()
    expected = fresh.init_centers(x, n_init=3, seed=0)
    np.testing.assert_array_equal(refresh.initial_labels, expected)
    again, _ = _fit(model, x, epochs=1)  # centres already set: no k-means start to report
    assert again.initial_labels is None and again.labels is not None
