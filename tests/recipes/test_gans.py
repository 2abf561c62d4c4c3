import json

import keras
import numpy as np
import pytest

from keras_unsup.recipes import get_recipe, list_recipes, run_recipe

TINY = {"filters": 4, "n_frechet": 100, "n_probe_train": 200}


def test_gan_recipes_are_registered():
    recipes = {r.name: r for r in list_recipes() if r.family == "generative"}
    assert {"dcgan", "infogan", "wgan-gp"} <= set(recipes)
    assert recipes["infogan"].clusters  # in `keras-unsup benchmark`
    assert not recipes["dcgan"].clusters and not recipes["wgan-gp"].clusters
    assert get_recipe("wgan-gp").summary


@pytest.mark.slow
def test_infogan_recipe_writes_its_run_folder_and_scores(tmp_path):
    metrics = run_recipe(
        "infogan",
        "digits",
        quick=True,
        epochs=1,
        seed=0,
        out_dir=tmp_path,
        verbose=0,
        hidden_units=16,
        **TINY,
    )
    for key in (
        "acc",
        "nmi",
        "ari",
        "frechet_distance",
        "frechet_floor",
        "linear_probe_acc",
        "images_per_second",
        "diversity_ratio",
        "wall_time_s",
    ):
        assert isinstance(metrics[key], float), key
    assert 0.0 <= metrics["acc"] <= 1.0 and metrics["epochs_trained"] == 1
    shares = metrics["category_shares"]  # Q's categories over the test images
    assert len(shares) == 10 and sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert metrics["min_category_share"] == pytest.approx(min(shares), abs=1e-4)
    assert metrics["categories_used"] == sum(v >= 0.02 for v in shares)
    assert metrics["frechet_floor"] < metrics["frechet_distance"]  # an untrained GAN is far off
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["method"] == "infogan" and written["acc"] == pytest.approx(metrics["acc"])
    for name in (
        "samples.png",
        "traversal_code0.png",
        "traversal_code1.png",
        "clusters.png",
        "losses.png",
        "epochs/generated_epoch_001.png",
        "checkpoints/last_good.weights.h5",
    ):
        assert (tmp_path / name).is_file(), name
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert type(model).__name__ == "InfoGAN" and model.n_categories == 10
    assert model.predict_categories(np.zeros((2, 8, 8, 1), np.float32)).shape == (2,)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, key", [("dcgan", "final_g_loss"), ("wgan-gp", "final_wasserstein")]
)
def test_dcgan_and_wgan_recipes(method, key, tmp_path):
    metrics = run_recipe(
        method,
        "digits",
        quick=True,
        epochs=1,
        seed=0,
        out_dir=tmp_path,
        verbose=0,
        latent_dim=8,
        **TINY,
    )
    assert np.isfinite(metrics[key])
    assert 0.0 <= metrics["linear_probe_acc"] <= 1.0
    assert "acc" not in metrics  # only InfoGAN clusters
    assert (tmp_path / "samples.png").is_file() and (tmp_path / "model.keras").is_file()


@pytest.mark.slow
def test_init_model_trains_a_saved_gan_further(tmp_path):
    first = tmp_path / "first"
    run_recipe("dcgan", "digits", quick=True, epochs=1, seed=0, out_dir=first, verbose=0,
               latent_dim=8, **TINY)
    saved = keras.saving.load_model(first / "model.keras")
    steps_before = int(saved.g_optimizer.iterations.numpy())
    assert steps_before > 0
    metrics = run_recipe("dcgan", "digits", quick=True, epochs=1, seed=0,
                         out_dir=tmp_path / "second", verbose=0, latent_dim=8,
                         init_model=str(first / "model.keras"), **TINY)
    assert metrics["init_model"] == str(first / "model.keras") and metrics["epochs_trained"] == 1
    again = keras.saving.load_model(tmp_path / "second" / "model.keras")
    # the optimizer went on counting from the saved model's steps: one more epoch of them
    assert int(again.g_optimizer.iterations.numpy()) == 2 * steps_before
    changed = [not np.allclose(a, b) for a, b in zip(saved.generator.get_weights(),
                                                     again.generator.get_weights())]
    assert any(changed)


@pytest.mark.slow
def test_init_model_errors_name_the_option(tmp_path):
    with pytest.raises(ValueError, match="`init_model` must be the path of an existing .keras"):
        run_recipe("dcgan", "digits", quick=True, epochs=1, verbose=0,
                   init_model=str(tmp_path / "missing.keras"))
    first = tmp_path / "wgan"
    run_recipe("wgan-gp", "digits", quick=True, epochs=1, seed=0, out_dir=first, verbose=0,
               latent_dim=8, **TINY)
    with pytest.raises(ValueError, match="holds a WGANGP, but 'dcgan' trains a GAN"):
        run_recipe("dcgan", "digits", quick=True, epochs=1, verbose=0, latent_dim=8,
                   init_model=str(first / "model.keras"), **TINY)


def test_began_is_registered_with_its_options():
    recipe = get_recipe("began")
    assert recipe.family == "generative" and not recipe.clusters
    names = {option.name: option for option in recipe.options}
    assert names["gamma"].default == 0.5 and names["lambda_k"].default == 0.001
    assert {"latent_dim", "embedding_dim", "filters"} <= set(names)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"gamma": 0.0}, r"`gamma` must be a number in \(0.0, 1.0\]"),
        ({"gamma": 1.2}, r"`gamma` must be a number in \(0.0, 1.0\]"),
        ({"lambda_k": -0.001}, r"`lambda_k` must be a number in \[0.0, inf\)"),
    ],
)
def test_began_recipe_refuses_bad_options_before_any_work(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_recipe("began", "digits", quick=True, epochs=1, verbose=0, out_dir=tmp_path, **options)
    assert not (tmp_path / "metrics.json").exists()


def test_began_recipe_refuses_nan_images(tmp_path):
    from keras_unsup.data import load_dataset

    data = load_dataset("digits").subset(200, 50, seed=0)
    data.x_train[3, 2, 2, 0] = np.nan
    with pytest.raises(ValueError, match="`x_train` must hold only finite values"):
        run_recipe("began", "digits", data=data, epochs=1, verbose=0, out_dir=tmp_path)
    assert not (tmp_path / "model.keras").exists()


@pytest.mark.slow
def test_began_recipe_scores_and_draws_its_figures(tmp_path):
    metrics = run_recipe("began", "digits", quick=True, epochs=1, seed=0, out_dir=tmp_path,
                         verbose=0, latent_dim=8, embedding_dim=8, **TINY)
    for key in ("frechet_distance", "frechet_floor", "linear_probe_acc", "final_m_global",
                "final_k", "final_real_loss", "final_g_loss", "images_per_second"):
        assert isinstance(metrics[key], float) and np.isfinite(metrics[key]), key
    assert 0.0 <= metrics["linear_probe_acc"] <= 1.0 and 0.0 <= metrics["final_k"] <= 1.0
    assert metrics["final_m_global"] >= metrics["final_real_loss"] - 1e-6  # L(x) + |...|
    assert metrics["options"]["gamma"] == 0.5 and metrics["options"]["lambda_k"] == 0.001
    for name in ("samples.png", "interpolations.png", "convergence.png", "losses.png",
                 "model.keras"):
        assert (tmp_path / name).is_file(), name
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert type(model).__name__ == "BEGAN"
    assert float(model.k) == pytest.approx(metrics["final_k"])
    assert model.discriminator_features(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 8)
