"""Recipes on a streamed folder: trained from the stream, evaluated batch by batch, and
never holding the images whole (the clustering family's neural methods included);
methods that need the images in memory refuse it."""

import json

import numpy as np
import pytest

from keras_unsup.data import FolderDataset, load_dataset
from keras_unsup.data import folder as folder_module
from keras_unsup.data.views import two_view_stream
from keras_unsup.recipes import run_recipe

N_PER_CLASS = 150  # 300 images: 240 train, 60 test


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for label, name in enumerate(("bars", "dots")):
        (root / name).mkdir()
        for i in range(N_PER_CLASS):
            img = rng.integers(0, 60, (8, 8)).astype(np.uint8)
            if label == 0:
                img[:, 2:4] = 230
            else:
                img[3:5, 3:5] = 230
            Image.fromarray(img, mode="L").save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture
def streamed(image_folder, monkeypatch):
    """The folder as a stream whose image arrays cannot be read."""
    def refuse(self):
        raise AssertionError("a streamed run read the images as one array")

    for name in ("x_train", "x_test", "x_all"):
        monkeypatch.setattr(FolderDataset, name, property(refuse))
    data = load_dataset(str(image_folder), stream=True)
    assert data.is_streaming and data.n_train == 240 and data.n_test == 60
    return data


def test_dense_ae_trains_from_the_stream(streamed, tmp_path):
    metrics = run_recipe("dense-ae", data=streamed, epochs=1, verbose=0, batch_size=32,
                         out_dir=tmp_path)
    assert np.isfinite(metrics["recon_mse"]) and 0 < metrics["recon_mse"] < 1
    assert metrics["n_train"] == 240 and metrics["n_test"] == 60
    assert 0 <= metrics["acc"] <= 1 and metrics["epochs_trained"] == 1
    for name in ("metrics.json", "reconstructions.png", "latent.png", "encoder.keras"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "metrics.json").read_text())["n_train"] == 240


@pytest.mark.slow
def test_vae_and_denoising_score_the_test_stream(streamed, image_folder, tmp_path):
    vae = run_recipe("vae", data=streamed, epochs=1, verbose=0, batch_size=64)
    assert np.isfinite(vae["neg_elbo"]) and vae["neg_elbo"] > 0
    # with an on-disk cache, and the figures of noisy inputs
    cached = load_dataset(str(image_folder), cache=str(tmp_path / "cache"))
    assert cached.is_streaming
    dae = run_recipe("denoising-ae", data=cached, epochs=2, verbose=0, batch_size=64,
                     out_dir=tmp_path / "run")
    assert np.isfinite(dae["recon_mse"]) and (tmp_path / "run" / "reconstructions.png").is_file()
    assert any((tmp_path / "cache").iterdir())


def test_same_seed_gives_same_metrics_on_a_stream(streamed):
    a = run_recipe("dense-ae", data=streamed, epochs=1, verbose=0, batch_size=64, seed=3)
    b = run_recipe("dense-ae", data=streamed, epochs=1, verbose=0, batch_size=64, seed=3)
    assert a["recon_mse"] == b["recon_mse"] and a["acc"] == b["acc"]


@pytest.mark.parametrize("method, options", [("moco", {"queue_size": 16}), ("simclr", {})])
def test_contrastive_methods_train_from_a_two_view_stream(streamed, method, options):
    metrics = run_recipe(method, data=streamed, epochs=1, verbose=0, batch_size=32,
                         filters=[4, 4], embedding_dim=8, plot=False, **options)
    assert metrics["n_train"] == 240 and metrics["train_images"] == 240
    assert 0 <= metrics["linear_probe_acc"] <= 1 and 0 <= metrics["knn_acc"] <= 1
    assert np.isfinite(metrics["final_loss"])


def test_rotnet_trains_on_a_subset_of_the_stream(streamed):
    metrics = run_recipe("rotnet", data=streamed, epochs=1, verbose=0, batch_size=32,
                         filters=[4, 4], embedding_dim=8, plot=False, train_images=100)
    assert metrics["train_images"] == 100 and metrics["n_train"] == 240
    assert "linear_probe_acc" in metrics


def test_two_view_stream_augments_each_batch_twice(streamed):
    ds = two_view_stream(streamed.train_stream(16, seed=0, drop_remainder=True), seed=0)
    view_1, view_2 = next(iter(ds))
    assert view_1.shape == view_2.shape == (16, 8, 8, 1)
    assert not np.allclose(view_1, view_2)


@pytest.mark.parametrize("method, named", [("kmeans", "kmeans"), ("gmm", "gmm"),
                                           ("rbm", "rbm"), ("dbn", "dbn")])
def test_methods_that_need_memory_refuse_a_stream(image_folder, method, named):
    data = load_dataset(str(image_folder), stream=True)
    with pytest.raises(ValueError, match=rf"`dataset` '.*' is streamed \(300 images.*; "
                                         rf"{named} needs the images in memory"):
        run_recipe(method, data=data, epochs=1, verbose=0)


# --- the clustering family's neural methods ------------------------------------------

# A small autoencoder and few DEC steps: the wiring, not the quality.
CLUSTER_SMALL = {"hidden_units": [32, 32], "epochs": 2, "quick": True, "verbose": 0,
                 "batch_size": 64}
DEC_SMALL = {**CLUSTER_SMALL, "max_iter": 30, "update_interval": 10, "dec_batch_size": 32,
             "n_init": 2, "tol": 0.0}


@pytest.mark.parametrize("method, options", [
    ("ae-kmeans", CLUSTER_SMALL), ("ae-umap-gmm", {**CLUSTER_SMALL, "umap_neighbors": 5}),
    ("dec", DEC_SMALL)])
@pytest.mark.slow
def test_clustering_on_codes_trains_from_the_stream(streamed, method, options, tmp_path):
    metrics = run_recipe(method, data=streamed, out_dir=tmp_path, **options)
    assert metrics["n_clustered"] == 300 and metrics["n_train"] == 240
    for key in ("acc", "nmi", "ari"):
        assert 0.0 <= metrics[key] <= 1.0
    # the reconstruction error of all 300 images, read batch by batch
    assert np.isfinite(metrics["recon_mse"]) and 0 < metrics["recon_mse"] < 1
    assert metrics["pretrain_reused"] is False
    labels = np.load(tmp_path / "labels.npy")
    assert labels.shape == (300,) and set(np.unique(labels)) <= {0, 1}
    for name in ("confusion_matrix.png", "embedding_clusters.png", "model.keras"):
        assert (tmp_path / name).is_file(), name
    state = json.loads((tmp_path / "run_state.json").read_text())
    fits = json.loads((tmp_path / "pretrain" / "run_state.json").read_text())["fits"]
    assert fits["pretrain"]["done"] and fits["pretrain"]["epochs_done"] == 2
    assert fits["pretrain"]["key"]["n"] == 300
    if method == "dec":
        assert metrics["dec_iterations"] == 30
        assert state["fits"]["dec"]["epochs_done"] == 3


@pytest.mark.slow
def test_dec_on_a_stream_is_reproducible(streamed, tmp_path):
    a = run_recipe("dec", data=streamed, out_dir=tmp_path / "a", seed=5, **DEC_SMALL)
    b = run_recipe("dec", data=streamed, out_dir=tmp_path / "b", seed=5, **DEC_SMALL)
    assert a["acc"] == b["acc"] and a["recon_mse"] == b["recon_mse"]
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "labels.npy"),
                                  np.load(tmp_path / "b" / "labels.npy"))
    history_a = json.loads((tmp_path / "a" / "dec_history.json").read_text())
    history_b = json.loads((tmp_path / "b" / "dec_history.json").read_text())
    assert [h["loss"] for h in history_a] == [h["loss"] for h in history_b]



def test_idec_trains_from_the_stream(streamed):
    metrics = run_recipe("idec", data=streamed, **{**DEC_SMALL, "max_iter": 20})
    assert metrics["n_clustered"] == 300 and metrics["dec_iterations"] == 20
    assert 0.0 <= metrics["acc"] <= 1.0


@pytest.mark.slow
def test_a_streamed_dec_fit_resumes_to_the_uninterrupted_labels(streamed, tmp_path,
                                                                 dec_cut_and_resume):
    options = dict(DEC_SMALL, ae_dir=str(tmp_path / "ae"))
    full = run_recipe("dec", data=streamed, out_dir=tmp_path / "full", **options)
    labels = np.load(tmp_path / "full" / "labels.npy")
    history = json.loads((tmp_path / "full" / "dec_history.json").read_text())

    # Interrupted when the third update interval starts; the rerun trains only that one.
    resumed, trained = dec_cut_and_resume(
        lambda: run_recipe("dec", data=streamed, out_dir=tmp_path / "cut", **options))
    assert trained == [2]
    assert resumed["pretrain_reused"] is True
    assert resumed["dec_iterations"] == 30 and resumed["acc"] == full["acc"]
    np.testing.assert_array_equal(np.load(tmp_path / "cut" / "labels.npy"), labels)
    again = json.loads((tmp_path / "cut" / "dec_history.json").read_text())
    assert [h["iteration"] for h in again] == [10, 20, 30]
    np.testing.assert_allclose([h["loss"] for h in again], [h["loss"] for h in history],
                               rtol=1e-4)


def test_quick_mode_keeps_a_large_folder_streamed(image_folder, monkeypatch, tmp_path):
    # Above the (lowered) threshold the folder streams, and its arrays are refused.
    monkeypatch.setattr(folder_module, "STREAM_THRESHOLD_BYTES", 1000)
    monkeypatch.setattr("keras_unsup.recipes.QUICK_TRAIN", 100)
    monkeypatch.setattr("keras_unsup.recipes.QUICK_TEST", 40)
    metrics = run_recipe("sparse-ae", str(image_folder), quick=True, epochs=1, verbose=0,
                         batch_size=32)
    assert metrics["n_train"] == 100 and metrics["n_test"] == 40
    assert np.isfinite(metrics["recon_mse"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dcgan", "began"])
def test_gans_train_from_the_stream_and_score_a_sample(streamed, tmp_path, method):
    metrics = run_recipe(method, data=streamed, epochs=1, verbose=0, batch_size=32,
                         out_dir=tmp_path, filters=8, n_frechet=40, n_probe_train=100,
                         **({"latent_dim": 8} if method == "dcgan" else {}))
    assert metrics["n_train"] == 240 and metrics["batch_size"] == 32
    assert metrics["frechet_n_images"] == 40 and metrics["linear_probe_n_train"] == 100
    assert np.isfinite(metrics["frechet_distance"]) and 0 <= metrics["linear_probe_acc"] <= 1
    assert (tmp_path / "samples.png").is_file() and (tmp_path / "model.keras").is_file()
