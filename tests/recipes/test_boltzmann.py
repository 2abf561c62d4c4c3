import json

import keras
import numpy as np
import pytest

from keras_unsup.recipes import get_recipe, list_recipes, run_recipe
from keras_unsup.recipes.base import RunConfig, RunDir
from keras_unsup.recipes.boltzmann import BUDGET, run_dbn, run_rbm
from keras_unsup.recipes.options import option_names, resolve_options

TINY = {"gibbs_steps": 5, "n_probe_train": 300}


def test_rbm_and_dbn_are_registered_with_their_options():
    recipes = {r.name: r for r in list_recipes() if r.family == "generative"}
    assert {"rbm", "dbn"} <= set(recipes)
    assert not recipes["rbm"].clusters and recipes["dbn"].summary
    common = {"k", "persistent", "n_chains", "learning_rate", "visible"}
    assert common | {"hidden_units"} <= set(option_names(get_recipe("rbm")))
    assert common | {"layers"} <= set(option_names(get_recipe("dbn")))
    resolved = resolve_options(get_recipe("dbn"), {"layers": "[500,500,2000]",
                                                   "persistent": "true"}, from_text=True)
    assert resolved["layers"] == [500, 500, 2000] and resolved["persistent"] is True


def test_budget_is_a_rule_of_the_data_size():
    def budget(n_train, batch_size):
        return BUDGET.epochs(RunConfig("rbm"), n_train, batch_size)

    assert budget(1437, 32) == BUDGET.max_epochs == 100  # digits: capped
    assert budget(60000, 32) == BUDGET.min_epochs == 5  # Fashion-MNIST: the minimum
    assert budget(10000, 32) == 16  # ceil(5000 / 313)
    assert budget(10000, 64) > budget(10000, 32)  # fewer steps per epoch, more epochs
    assert BUDGET.epochs(RunConfig("rbm", quick=True), 60000, 32) == 2


@pytest.mark.parametrize("method, options, message", [
    ("rbm", {"k": 0}, "`k` must be an integer >= 1. Received: k=0"),
    ("rbm", {"hidden_units": 0}, "`hidden_units` must be an integer >= 1"),
    ("dbn", {"layers": [500, 0]}, "`layers` must be a non-empty sequence of integers >= 1"),
    ("rbm", {"visible": "binary"}, "`visible` must be one of"),
])
def test_bad_options_are_clear_errors_before_any_work(method, options, message, tmp_path):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_recipe(method, "digits", out_dir=tmp_path / "run", verbose=0, **options)
    assert not (tmp_path / "run" / "metrics.json").exists()


def _bad_data(x_train):
    from keras_unsup.data.datasets import Dataset

    x_test = np.full((4, 8, 8, 1), 0.5, np.float32)
    return Dataset("bad", x_train, np.arange(len(x_train)) % 2, x_test, np.arange(4) % 2)


@pytest.mark.parametrize("fn", [run_rbm, run_dbn])
@pytest.mark.parametrize("value, message", [
    (np.nan, "`x_train` must hold only finite values"),
    (1.5, r"`x_train` must hold values in \[0.0, 1.0\]. Received: x_train with values in "
          r"\[0.5, 1.5\]"),
])
def test_bad_images_are_clear_errors_before_any_work(fn, value, message, tmp_path):
    x = np.full((16, 8, 8, 1), 0.5, np.float32)
    x[3, 2, 2, 0] = value
    method = "rbm" if fn is run_rbm else "dbn"
    config = RunConfig(method, epochs=1, verbose=0,
                       options=resolve_options(get_recipe(method), {}))
    with pytest.raises(ValueError, match=message):
        fn(config, _bad_data(x), RunDir(tmp_path))
    assert not (tmp_path / "run_state.json").exists()  # no fit started


def test_gaussian_units_accept_images_outside_the_unit_range(tmp_path):
    x = np.random.default_rng(0).uniform(-2, 3, (40, 8, 8, 1)).astype(np.float32)
    config = RunConfig("rbm", epochs=1, verbose=0, options=resolve_options(
        get_recipe("rbm"), {"visible": "gaussian", "hidden_units": 4, **TINY}))
    metrics = run_rbm(config, _bad_data(x), RunDir(None))
    assert np.isfinite(metrics["final_reconstruction_error"])
    assert "final_pseudo_likelihood" not in metrics  # defined for Bernoulli inputs only


@pytest.mark.slow
def test_rbm_recipe_writes_metrics_figures_and_model(tmp_path):
    metrics = run_recipe("rbm", "digits", quick=True, epochs=2, out_dir=tmp_path, verbose=0,
                         hidden_units=32, persistent=True, n_chains=16, **TINY)
    for key in ("linear_probe_acc", "knn_acc", "images_per_second", "recon_mse",
                "free_energy_test", "free_energy_shuffled", "final_free_energy",
                "final_reconstruction_error", "final_pseudo_likelihood"):
        assert isinstance(metrics[key], float), key
    assert metrics["linear_probe_acc"] > 0.5  # ten classes: chance is 0.1
    assert metrics["free_energy_gap"] > 0  # data is more probable than shuffled pixels
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["method"] == "rbm" and written["options"]["persistent"] is True
    for name in ("filters.png", "gibbs_chain.png", "curves.png", "model.keras"):
        assert (tmp_path / name).is_file(), name
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert type(model).__name__ == "RBM" and model.chains.shape == (16, 64)
    state = json.loads((tmp_path / "run_state.json").read_text())
    assert state["fits"]["rbm"]["done"] and state["fits"]["rbm"]["epochs_done"] == 2


@pytest.mark.slow
def test_dbn_recipe_one_fit_per_layer_and_resumes(tmp_path):
    options = {"layers": [16, 8], **TINY}
    metrics = run_recipe("dbn", "digits", quick=True, epochs=2, out_dir=tmp_path, verbose=0,
                         **options)
    assert metrics["epochs_trained"] == [2, 2] and metrics["linear_probe_acc"] > 0.3
    state = json.loads((tmp_path / "run_state.json").read_text())
    assert set(state["fits"]) == {"rbm_0", "rbm_1"}
    assert all(f["done"] for f in state["fits"].values())
    for name in ("filters.png", "gibbs_chain.png", "curves.png", "dbn_samples.png"):
        assert (tmp_path / name).is_file(), name
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert type(model).__name__ == "DBN" and model.layer_sizes == (16, 8)
    # a run interrupted after its fits (while plotting) reuses them: no training again
    state.update(status="running", phase="plotting")
    (tmp_path / "run_state.json").write_text(json.dumps(state))
    again = run_recipe("dbn", "digits", quick=True, epochs=2, out_dir=tmp_path, verbose=0,
                       **options)
    assert again["optimizer_steps_this_call"] == 0
    assert again["linear_probe_acc"] == pytest.approx(metrics["linear_probe_acc"])


@pytest.mark.slow
def test_cli_runs_rbm_quick(tmp_path):
    from keras_unsup import cli

    out = tmp_path / "run"
    assert cli.main(["run", "rbm", "--quick", "--epochs", "1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "rbm" and metrics["quick"] is True
    assert metrics["options"]["hidden_units"] == 256 and 0 < metrics["linear_probe_acc"] <= 1
