import json

import keras
import numpy as np
import pytest

from keras_unsup.data import load_dataset
from keras_unsup.recipes import get_recipe, run_recipe
from keras_unsup.recipes.base import RunConfig
from keras_unsup.recipes.contrastive_clustering import (
    BUDGET,
    MIN_STEPS_PER_FIT_EPOCH,
    default_crop_scale,
    fit_schedule,
)

# A tiny backbone and two short epochs: these tests check the wiring, the benchmark the
# quality (benchmarks/clustering.py --methods cc).
SMALL = {"embedding_dim": 16, "filters": [4, 8], "projection_dim": 8, "epochs": 2,
         "quick": True, "verbose": 0, "plot_projection": "pca", "plot_points": 100}


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits").subset(160, 40, seed=0)


def test_cc_is_a_clustering_method_with_declared_options():
    recipe = get_recipe("cc")
    assert recipe.family == "clustering" and recipe.clusters and recipe.min_steps > 0
    names = {o.name for o in recipe.options}
    assert {"n_clusters", "instance_temperature", "cluster_temperature", "entropy_weight",
            "crop_scale", "learning_rate"} <= names


def test_crop_scale_follows_the_image_size_and_the_budget_its_number():
    # Every crop keeps at least 30% of the area, and at least 6x6 pixels.
    assert default_crop_scale((8, 8, 1)) == (0.5625, 1.0)
    assert default_crop_scale((5, 5, 1)) == (1.0, 1.0)
    assert default_crop_scale((7, 7, 1)) == pytest.approx((36 / 49, 1.0))
    assert default_crop_scale((28, 28, 1)) == (0.3, 1.0)
    assert default_crop_scale((32, 32, 3)) == (0.3, 1.0)
    assert default_crop_scale((7, 32, 3)) == default_crop_scale((7, 7, 1))  # the short side
    low = [default_crop_scale((s, s, 1))[0] for s in range(5, 33)]
    assert all(a >= b for a, b in zip(low, low[1:]))  # never more cropping for less image
    # The area floor grows with the data: 30% up to 10,000 images, 60% from 60,000.
    for n in (None, 500, 1797, 10_000):
        assert default_crop_scale((28, 28, 1), n) == (0.3, 1.0)
    assert default_crop_scale((28, 28, 1), 60_000) == pytest.approx((0.6, 1.0))
    assert default_crop_scale((28, 28, 1), 70_000) == pytest.approx((0.6, 1.0))
    assert default_crop_scale((28, 28, 1), 20_000)[0] == pytest.approx(
        0.3 + 0.3 * np.log(2) / np.log(6))
    grown = [default_crop_scale((32, 32, 3), n)[0] for n in range(5_000, 80_001, 5_000)]
    assert all(a <= b for a, b in zip(grown, grown[1:]))  # never more cropping for more data
    assert default_crop_scale((8, 8, 1), 1797) == (0.5625, 1.0)  # the pixel floor still holds
    assert default_crop_scale((8, 8, 1), 70_000) == pytest.approx((0.6, 1.0))
    config = RunConfig("cc")
    for n in (1797, 10000, 70000):  # the same steps, whatever the data's size
        epochs = BUDGET.epochs(config, n)
        steps = epochs * (n // BUDGET.batch_size)
        assert BUDGET.steps <= steps < BUDGET.steps + n // BUDGET.batch_size


def test_short_passes_are_grouped_into_keras_epochs():
    for passes, per_pass in ((1000, 3), (429, 7), (77, 39), (11, 273), (2, 1), (5, 2)):
        fit_epochs, grouped = fit_schedule(passes, per_pass)
        assert passes <= fit_epochs * grouped < passes + grouped  # the passes asked for
        assert fit_epochs >= 2  # an interrupted run has an epoch to resume from
        if per_pass >= MIN_STEPS_PER_FIT_EPOCH:
            assert grouped == 1
        elif passes >= 2 * -(-MIN_STEPS_PER_FIT_EPOCH // per_pass):
            assert grouped * per_pass >= MIN_STEPS_PER_FIT_EPOCH  # no epoch of a few steps


def test_run_scores_the_cluster_head_and_the_backbone(data, tmp_path):
    out = tmp_path / "cc"
    metrics = run_recipe("cc", data=data, out_dir=out, **SMALL)
    assert metrics["n_clustered"] == 200 and metrics["n_clusters"] == 10
    assert metrics["crop_scale"] == [0.5625, 1.0]  # from the 8x8 images
    assert metrics["steps"] == 2 * (200 // 200) and metrics["batch_size"] == 200
    assert metrics["optimizer_steps"] == metrics["steps"]
    for key in ("acc", "nmi", "ari", "linear_probe_acc", "knn_acc", "kmeans_acc"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert "short_run" in metrics  # 2 steps: flagged, not passed off as a result
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["method"] == "cc" and saved["family"] == "clustering"
    for name in ("confusion_matrix.png", "embedding_clusters.png", "embedding_labels.png"):
        assert (out / name).stat().st_size > 1000
    # The saved model's arg-max is the run's clustering, and its ACC the reported one.
    labels = np.load(out / "labels.npy")
    model = keras.saving.load_model(out / "model.keras")
    predicted = model.predict(data.x_all, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(predicted, labels)
    from keras_unsup.evaluation.metrics import cluster_accuracy

    assert cluster_accuracy(data.y_all, labels) == pytest.approx(metrics["acc"])
    assert metrics["clusters_used"] == len(np.unique(labels))
    # A finished run is returned from its folder without training again.
    assert run_recipe("cc", data=data, out_dir=out, **SMALL)["wall_time_s"] \
        == metrics["wall_time_s"]


def test_bad_input_is_refused_before_any_work(data, tmp_path):
    with pytest.raises(ValueError, match=r"`n_clusters` must be an integer in \[2, 200\]\. "
                                         r"Received: n_clusters=500"):
        run_recipe("cc", data=data, out_dir=tmp_path / "a", n_clusters=500, **SMALL)
    assert not (tmp_path / "a" / "model.keras").exists()
    with pytest.raises(ValueError, match="crop_scale"):
        run_recipe("cc", data=data, crop_scale=[0.0, 1.0], **SMALL)
    with pytest.raises(ValueError, match="epochs"):
        run_recipe("cc", data=data, **{**SMALL, "epochs": 0})
    with pytest.raises(ValueError, match="cluster_temperature"):
        run_recipe("cc", data=data, cluster_temperature=0.0, **SMALL)


@pytest.mark.slow
def test_learns_digits_with_its_defaults(tmp_path):
    # The default budget on all 1,797 8x8 digits: far above k-means on pixels (~0.8).
    metrics = run_recipe("cc", "digits", out_dir=tmp_path / "cc", verbose=0,
                         plot_projection="pca")
    assert "short_run" not in metrics
    assert metrics["acc"] > 0.85
    assert metrics["final_contrastive_accuracy"] > 0.1  # chance: 1 / 511
    assert metrics["clusters_used"] == 10 and metrics["smallest_cluster_share"] > 0.02


def test_self_labelling_after_cc_is_an_option_of_the_run(data, tmp_path):
    out = tmp_path / "cc-sl"
    metrics = run_recipe("cc", data=data, out_dir=out, self_label_steps=3,
                         self_label_threshold=0.0, **SMALL)
    assert metrics["self_label_steps_taken"] == 3 and metrics["steps"] == 2
    assert metrics["optimizer_steps"] == 2 + 3  # the run's steps: CC's and the tuner's
    assert metrics["final_confident_share"] == 1.0  # threshold 0: every image labels
    assert metrics["final_self_label_loss"] >= 0.0 and metrics["self_label_time_s"] > 0
    assert 0.0 <= metrics["acc_before_self_label"] <= 1.0
    assert 0.0 <= metrics["changed_by_self_label"] <= 1.0
    # The saved model is the tuned one: its arg-max is the run's clustering.
    model = keras.saving.load_model(out / "model.keras")
    np.testing.assert_array_equal(model.predict(data.x_all, verbose=0).argmax(axis=1),
                                  np.load(out / "labels.npy"))
    with pytest.raises(ValueError, match=r"`self_label_threshold` must be a number in "
                                         r"\[0.0, 1.0\)\. Received: self_label_threshold=1"):
        run_recipe("cc", data=data, out_dir=tmp_path / "b", self_label_steps=3,
                   self_label_threshold=1.0, **SMALL)
    assert not (tmp_path / "b" / "model.keras").exists()
    with pytest.raises(ValueError, match="self_label_steps"):
        run_recipe("cc", data=data, self_label_steps=-1, **SMALL)


def test_a_dataset_without_a_test_split_is_clustered_without_probes(data):
    train_only = data.subset(120, 0, seed=0)  # what a benchmark's `--subset` gives
    metrics = run_recipe("cc", data=train_only, **SMALL)
    assert metrics["n_clustered"] == 120 and 0.0 <= metrics["acc"] <= 1.0
    assert "linear_probe_acc" not in metrics and "knn_acc" not in metrics
