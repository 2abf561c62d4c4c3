import json

import keras
import numpy as np
import pytest

from keras_unsup.data import Dataset, load_dataset
from keras_unsup.recipes import get_recipe, list_recipes, run_recipe

METHODS = ("kmeans", "gmm", "ae-kmeans", "ae-gmm", "ae-umap-gmm", "dec", "idec", "dec-da")
# A small autoencoder and few steps: these tests check the wiring, the benchmark the quality.
SMALL = {"hidden_units": [32, 32], "epochs": 2, "quick": True, "verbose": 0}


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits").subset(160, 40, seed=0)


def test_all_methods_are_registered_in_the_clustering_family():
    names = {r.name for r in list_recipes() if r.family == "clustering"}
    assert set(METHODS) <= names  # other modules may add methods to the family
    assert all(get_recipe(m).clusters for m in METHODS)


def test_kmeans_run_writes_metrics_and_figures(data, tmp_path):
    out = tmp_path / "kmeans"
    metrics = run_recipe("kmeans", data=data, out_dir=out, quick=True, verbose=0)
    assert metrics["n_clustered"] == 200 and metrics["n_clusters"] == 10
    for key in ("acc", "nmi", "ari"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["acc"] > 0.5  # k-means on digit pixels is far above chance (0.1)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["method"] == "kmeans" and saved["family"] == "clustering"
    for name in ("confusion_matrix.png", "embedding_clusters.png", "embedding_labels.png"):
        assert (out / name).stat().st_size > 1000
    labels = np.load(out / "labels.npy")
    assert labels.shape == (200,) and set(np.unique(labels)) <= set(range(10))


def test_gmm_reduces_with_pca(data):
    metrics = run_recipe("gmm", data=data, quick=True, verbose=0, pca_components=8,
                         n_clusters=4)
    assert metrics["pca_components"] == 8 and metrics["n_clusters"] == 4


def test_deep_methods_share_one_pretraining(data, tmp_path):
    shared = tmp_path / "ae"
    first = run_recipe("ae-kmeans", data=data, out_dir=tmp_path / "a", ae_dir=str(shared),
                       **SMALL)
    second = run_recipe("ae-gmm", data=data, out_dir=tmp_path / "b", ae_dir=str(shared),
                        **SMALL)
    assert first["pretrain_reused"] is False and second["pretrain_reused"] is True
    assert second["pretrain_time_s"] == first["pretrain_time_s"]
    assert (shared / "autoencoder.keras").is_file()
    model = keras.saving.load_model(tmp_path / "b" / "model.keras")
    assert model.get_layer("encoder").output_shape == (None, 10)
    # Other pretraining settings in the same folder are refused, not silently mixed.
    with pytest.raises(ValueError, match="ae_dir"):
        run_recipe("ae-gmm", data=data, ae_dir=str(shared),
                   **{**SMALL, "hidden_units": [16, 16]})
    with pytest.raises(ValueError, match="ae_dir"):  # fewer epochs than it was trained for
        run_recipe("ae-gmm", data=data, ae_dir=str(shared), **{**SMALL, "epochs": 1})


def test_more_pretraining_epochs_extend_the_saved_autoencoder(data, tmp_path):
    shared = tmp_path / "ae"
    first = run_recipe("ae-kmeans", data=data, ae_dir=str(shared), **SMALL)
    before = keras.saving.load_model(shared / "autoencoder.keras")
    steps_per_epoch = int(before.optimizer.iterations.numpy()) // 2
    longer = run_recipe("ae-kmeans", data=data, ae_dir=str(shared), **{**SMALL, "epochs": 5})
    assert longer["pretrain_extended_from"] == 2 and longer["pretrain_epochs"] == 5
    assert longer["pretrain_time_s"] > first["pretrain_time_s"]  # the time of all epochs
    after = keras.saving.load_model(shared / "autoencoder.keras")
    # Three more epochs on the saved optimizer, not five from scratch.
    assert int(after.optimizer.iterations.numpy()) == 5 * steps_per_epoch
    assert longer["recon_mse"] < first["recon_mse"]
    again = run_recipe("ae-kmeans", data=data, ae_dir=str(shared), **{**SMALL, "epochs": 5})
    assert again["pretrain_reused"] is True and again["pretrain_epochs"] == 5


@pytest.mark.slow
def test_ae_umap_gmm_caches_its_embedding(data, tmp_path):
    out = tmp_path / "umap"
    first = run_recipe("ae-umap-gmm", data=data, out_dir=out, umap_components=3, **SMALL)
    assert first["umap_components"] == 3
    cache = out / "checkpoints" / "umap.npy"
    assert np.load(cache).shape == (200, 3)
    written = cache.stat().st_mtime_ns
    # A rerun of the finished run gives back its metrics; one interrupted after the UMAP
    # step (status "running") reuses the pretraining and the embedding, computing neither.
    assert run_recipe("ae-umap-gmm", data=data, out_dir=out, umap_components=3,
                      **SMALL) == first
    state = json.loads((out / "run_state.json").read_text())
    (out / "run_state.json").write_text(json.dumps({**state, "status": "running"}))
    again = run_recipe("ae-umap-gmm", data=data, out_dir=out, umap_components=3, **SMALL)
    assert again["pretrain_reused"] is True and again["optimizer_steps_this_call"] == 0
    assert cache.stat().st_mtime_ns == written
    assert again["acc"] == first["acc"]



@pytest.mark.slow
@pytest.mark.parametrize("method", ["dec", "idec"])
def test_dec_recipes_save_a_loadable_model_and_resume(method, data, tmp_path,
                                                      dec_cut_and_resume):
    options = dict(SMALL, ae_dir=str(tmp_path / "ae"), max_iter=30, update_interval=10,
                   dec_batch_size=32, n_init=2, tol=0.0)
    full = run_recipe(method, data=data, out_dir=tmp_path / "full", **options)
    assert full["dec_iterations"] == 30 and full["dec_converged"] is False
    model = keras.saving.load_model(tmp_path / "full" / "model.keras")
    x = data.x_all
    labels = np.load(tmp_path / "full" / "labels.npy")
    np.testing.assert_array_equal(model.predict(x, verbose=0).argmax(1), labels)
    history = json.loads((tmp_path / "full" / "dec_history.json").read_text())
    assert [h["iteration"] for h in history] == [10, 20, 30]
    assert all(0.0 <= h["delta_label"] <= 1.0 and h["loss"] >= 0 for h in history)

    # Interrupted when the third update interval starts; the rerun trains only that one.
    resumed, trained = dec_cut_and_resume(
        lambda: run_recipe(method, data=data, out_dir=tmp_path / "cut", **options))
    assert trained == [2]
    assert resumed["dec_iterations"] == 30 and resumed["acc"] == full["acc"]
    np.testing.assert_array_equal(np.load(tmp_path / "cut" / "labels.npy"), labels)
    again = json.loads((tmp_path / "cut" / "dec_history.json").read_text())
    assert [h["iteration"] for h in again] == [10, 20, 30]
    np.testing.assert_allclose([h["loss"] for h in again], [h["loss"] for h in history],
                               rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ae-umap-gmm", "dec"])
def test_a_rerun_after_longer_pretraining_does_not_resume_from_the_old_codes(
        method, data, tmp_path):
    shared = tmp_path / "ae"
    options = dict(SMALL, ae_dir=str(shared), umap_components=3) if method == "ae-umap-gmm" \
        else dict(SMALL, ae_dir=str(shared), max_iter=20, update_interval=10,
                  dec_batch_size=32, n_init=2)
    run_recipe(method, data=data, out_dir=tmp_path / "a", **options)
    # The same folder, a longer pretraining: the UMAP embedding / DEC state saved from
    # the 2-epoch codes must be recomputed, so it matches a fresh folder on the new codes.
    again = run_recipe(method, data=data, out_dir=tmp_path / "a", **{**options, "epochs": 3})
    fresh = run_recipe(method, data=data, out_dir=tmp_path / "b", **{**options, "epochs": 3})
    assert again["pretrain_extended_from"] == 2 and fresh["pretrain_reused"] is True
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "labels.npy"),
                                  np.load(tmp_path / "b" / "labels.npy"))
    assert again["acc"] == fresh["acc"]


@pytest.mark.parametrize("n_clusters", [1, 201, 2.5])
def test_bad_number_of_clusters(n_clusters, data):
    with pytest.raises(ValueError, match="n_clusters"):
        run_recipe("kmeans", data=data, quick=True, verbose=0, n_clusters=n_clusters)


def test_non_finite_images_are_refused(data):
    x = data.x_train.copy()
    x[0, 0, 0, 0] = np.nan
    bad = Dataset("bad", x, data.y_train, data.x_test, data.y_test)
    for method in ("kmeans", "ae-kmeans"):
        with pytest.raises(ValueError, match="finite"):
            run_recipe(method, data=bad, quick=True, verbose=0)


def test_unlabelled_data_needs_n_clusters(data):
    unlabelled = Dataset("folder", data.x_train, None, data.x_test, None)
    with pytest.raises(ValueError, match="n_clusters"):
        run_recipe("kmeans", data=unlabelled, quick=True, verbose=0)
    metrics = run_recipe("kmeans", data=unlabelled, quick=True, verbose=0, n_clusters=3)
    assert "acc" not in metrics and metrics["n_clusters"] == 3


def test_cli_runs_a_clustering_method(tmp_path, capsys):
    from keras_unsup.cli import main

    main(["run", "kmeans", "--quick", "--out", str(tmp_path / "run"), "--set", "n_init=2"])
    printed = capsys.readouterr().out
    assert "acc" in printed
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["method"] == "kmeans"


# --- DEC-DA ------------------------------------------------------------------------------

DA = dict(SMALL, max_iter=20, update_interval=10, dec_batch_size=32, n_init=2)


def test_dec_da_pretrains_and_clusters_on_augmented_images(data, tmp_path):
    from keras_unsup.data.views import RandomAffine

    out = tmp_path / "da"
    metrics = run_recipe("dec-da", data=data, out_dir=out, autoencoder="conv", **DA)
    assert metrics["dec_iterations"] == 20 and metrics["n_clustered"] == 200
    # The k-means start is scored beside the end, and how far DEC moved from it.
    assert 0.0 <= metrics["init_acc"] <= 1.0 and 0.0 <= metrics["changed_from_init"] <= 1.0
    assert metrics["options"]["rotation"] == 10.0 and metrics["options"]["shift"] == 0.1
    model = keras.saving.load_model(out / "model.keras")
    assert isinstance(model.augmentation, RandomAffine)
    assert model.augmentation.rotation == 10.0 and model.augmentation.translation == 0.1
    # DEC-DA's CAE: strided convolutions 32-64-128 and a linear 10-d embedding.
    convs = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128] and [c.strides for c in convs] == [(2, 2)] * 3
    assert [c.kernel_size for c in convs] == [(5, 5), (5, 5), (3, 3)]
    np.testing.assert_array_equal(model.predict(data.x_all, verbose=0).argmax(1),
                                  np.load(out / "labels.npy"))


def test_dec_da_does_not_share_a_plain_pretraining(data, tmp_path):
    shared = str(tmp_path / "ae")
    run_recipe("ae-kmeans", data=data, ae_dir=shared, **SMALL)
    # The augmented pretraining is another autoencoder: refused, not silently reused.
    with pytest.raises(ValueError, match="ae_dir"):
        run_recipe("dec-da", data=data, ae_dir=shared, **DA)


@pytest.mark.parametrize("options, message", [
    ({"rotation": 181.0}, "rotation"),
    ({"rotation": -1.0}, "rotation"),
    ({"shift": 0.6}, "shift"),
    ({"shift": -0.1}, "shift"),
    ({"rotation": 0.0, "shift": 0.0}, "cannot both be 0"),
    ({"autoencoder": "capsule"}, "autoencoder"),
    ({"max_iter": 0}, "max_iter"),
    ({"n_clusters": 201}, "n_clusters"),
])
def test_dec_da_bad_settings_fail_before_any_work(options, message, data, tmp_path):
    out = tmp_path / "bad"
    with pytest.raises(ValueError, match=message):
        run_recipe("dec-da", data=data, out_dir=out, **{**DA, **options})
    assert not (out / "pretrain").exists()  # no pretraining started


def test_the_cli_names_the_augmentation_setting(tmp_path, capsys):
    from keras_unsup.cli import main

    with pytest.raises(SystemExit):
        main(["run", "dec-da", "--quick", "--out", str(tmp_path / "r"), "--set", "shift=2"])
    assert "`--set shift` must be a number in [0.0, 0.5]" in capsys.readouterr().err
    assert not (tmp_path / "r" / "pretrain").exists()


@pytest.mark.parametrize("n_images, epochs", [(1797, 300), (10000, 200), (70000, 30)])
def test_the_pretraining_budget_is_steps_with_at_most_300_passes(n_images, epochs):
    from keras_unsup.recipes.base import RunConfig
    from keras_unsup.recipes.clustering import PRETRAIN

    # 8,000 steps at batch 256, but a small set is not passed over 1,000 times: that
    # overfits the codes k-means (and so DEC) starts from.
    assert PRETRAIN.epochs(RunConfig("dec"), n_images) == epochs
