import json

import keras
import numpy as np
import pytest

from keras_unsup.data import load_dataset
from keras_unsup.data.datasets import Dataset
from keras_unsup.recipes import get_recipe, instances, run_recipe
from keras_unsup.recipes.instances import EXACT_SOFTMAX_MAX, NCE_PROXIMAL

METHODS = ("exemplar-cnn", "nat", "npid")


def _small_digits(n_train=200, n_test=60):
    return load_dataset("digits", seed=0).subset(n_train, n_test, seed=0)


def test_registered_in_the_self_supervised_family():
    for method in METHODS:
        recipe = get_recipe(method)
        assert recipe.family == "self-supervised" and recipe.min_steps >= 500
        assert {"embedding_dim", "crop_scale", "init_model"} <= {o.name for o in recipe.options}


@pytest.mark.parametrize("method, options, message", [
    ("exemplar-cnn", {"n_exemplars": 500}, r"`n_exemplars` must be an integer in \[2, 200\]"),
    ("npid", {"nce_negatives": 200}, r"`nce_negatives` must be an integer in \[1, 199\]"),
    ("npid", {"nce_negatives": 0}, r"`nce_negatives` must be an integer >= 1"),
    ("nat", {"momentum": 0.5}, "'nat' has no option `momentum`"),
    ("npid", {"temperature": 0.0}, "`temperature` must be a number in"),
])
def test_state_sized_from_the_data_and_bad_options_refused(method, options, message):
    with pytest.raises(ValueError, match=message):
        run_recipe(method, data=_small_digits(), epochs=1, verbose=0, **options)


class _Config:
    def __init__(self, **options):
        self.options = {"exact_softmax": None, "nce_negatives": None, "proximal": None,
                        **options}

    def label(self, name):
        return f"--set {name}"


@pytest.mark.parametrize("n, options, negatives, proximal", [
    (10_000, {}, None, 0.0),                       # a bank this size: the exact softmax
    (EXACT_SOFTMAX_MAX, {}, None, 0.0),
    (EXACT_SOFTMAX_MAX + 1, {}, 4096, NCE_PROXIMAL),  # larger: NCE and its proximal term
    (10_000, {"nce_negatives": 512}, 512, NCE_PROXIMAL),  # asking for NCE chooses it
    (10_000, {"exact_softmax": False}, 4096, NCE_PROXIMAL),
    (3_000, {"exact_softmax": False}, 2999, NCE_PROXIMAL),
    (200_000, {"exact_softmax": True, "proximal": 5.0}, None, 5.0),
])
def test_npid_softmax_estimate_follows_the_bank_size(n, options, negatives, proximal):
    sizes = instances._sizes("npid", _Config(**options), n)
    assert sizes == {"memory_size": n, "nce_negatives": negatives, "proximal": proximal}


def test_npid_refuses_both_estimates_at_once():
    with pytest.raises(ValueError, match=r"`--set exact_softmax` and `--set nce_negatives` ask "
                                         r"for two estimates.*nce_negatives=64"):
        instances._sizes("npid", _Config(exact_softmax=True, nce_negatives=64), 1000)


def test_command_line_labels_name_the_flag():
    with pytest.raises(ValueError, match=r"`--set n_exemplars` must be an integer in \[2, 200\]"):
        run_recipe("exemplar-cnn", data=_small_digits(), epochs=1, verbose=0,
                   option_flag="--set", n_exemplars=201)


@pytest.mark.parametrize("method", METHODS)
def test_nan_images_are_refused_before_any_work(method, monkeypatch):
    data = _small_digits()
    x = data.x_train.copy()
    x[3, 2, 2, 0] = np.nan
    bad = Dataset("digits-nan", x, data.y_train, data.x_test, data.y_test)

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(instances, "_build_model", no_model)
    with pytest.raises(ValueError, match="must hold only finite values"):
        run_recipe(method, data=bad, epochs=1, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_recipe_writes_metrics_figures_and_a_loadable_model(method, tmp_path):
    data = _small_digits(300, 80)
    out = tmp_path / method
    metrics = run_recipe(method, data=data, epochs=2, seed=0, out_dir=out, verbose=0,
                         tsne_points=60, **({"n_exemplars": 100} if method == "exemplar-cnn"
                                            else {}))
    for key in ("linear_probe_acc", "knn_acc", "acc", "nmi", "ari", "images_per_second"):
        assert isinstance(metrics[key], float), key
    assert metrics["linear_probe_acc"] > 0.5  # 10 classes: chance is 0.1
    assert json.loads((out / "metrics.json").read_text())["family"] == "self-supervised"
    assert (out / "tsne.png").stat().st_size > 1000
    model = keras.saving.load_model(out / "model.keras")
    # the embedding's width is the method's declared default (NAT's is wider)
    width = next(o.default for o in get_recipe(method).options if o.name == "embedding_dim")
    assert model.predict(data.x_test[:3], verbose=0).shape == (3, width)
    assert width == metrics["embedding_dim"] == (512 if method == "nat" else 128)
    if method == "npid":
        # 300 images: the exact softmax over the bank, no proximal term (the data's rule)
        assert metrics["memory_size"] == 300 and metrics["softmax"] == "exact"
        assert "nce_negatives" not in metrics
        assert metrics["proximal"] == 0.0
        assert (out / "npid_neighbours.png").stat().st_size > 1000
        assert model.memory_bank.bank.shape == (300, 128)
    if method == "exemplar-cnn":
        assert metrics["n_exemplars"] == 100 and metrics["train_images"] == 100
        assert metrics["seed_repeats_per_epoch"] == 3  # 300 images: each seed 3 times an epoch
    if method == "nat":
        assert sorted(model.assignment.numpy()) == list(range(300))
        assert model.targets.shape == (300, 128)  # on the sphere behind the 128-d head
        norms = np.linalg.norm(model.targets.numpy(), axis=1)
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


@pytest.mark.slow
def test_init_model_sized_for_another_training_set_is_refused(tmp_path):
    run_recipe("npid", data=_small_digits(), epochs=1, seed=0, out_dir=tmp_path / "a", verbose=0,
               plot=False)
    with pytest.raises(ValueError, match="holds a npid model with memory_size=200, sized for "
                                         "another training set; this run trains on 150"):
        run_recipe("npid", data=_small_digits(), epochs=1, verbose=0, train_images=150,
                   init_model=str(tmp_path / "a" / "model.keras"))
