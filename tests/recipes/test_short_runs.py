"""Honest short runs: a budget below what a method needs to learn is flagged in one line."""

import json

from keras_unsup import cli
from keras_unsup.recipes import get_recipe, run_recipe


def test_a_run_below_the_methods_minimum_is_flagged(tmp_path, capsys):
    out = tmp_path / "short"
    cli.main(["run", "dense-ae", "--quick", "--epochs", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    steps = metrics["optimizer_steps"]
    assert 0 < steps < get_recipe("dense-ae").min_steps
    assert metrics["short_run"] == (
        f"short run: {steps:,} optimizer steps, below the 200 dense-ae needs to learn at all; "
        "results are not representative (give it more --epochs)")
    assert metrics["short_run"] in printed.splitlines()


def test_a_run_with_enough_steps_is_not_flagged(tmp_path):
    metrics = run_recipe("dense-ae", quick=True, epochs=2, batch_size=8, out_dir=tmp_path,
                         verbose=0)
    assert metrics["optimizer_steps"] >= get_recipe("dense-ae").min_steps
    assert "short_run" not in metrics


def test_clustering_counts_the_pretraining_steps(tmp_path):
    metrics = run_recipe("ae-kmeans", quick=True, epochs=1, out_dir=tmp_path, verbose=0,
                         plot_projection="pca", plot_points=100)
    n = metrics["n_clustered"]
    assert metrics["pretrain_steps"] == -(-n // 256)  # one epoch at the default batch
    assert metrics["short_run"].startswith(f"short run: {metrics['pretrain_steps']:,} ")
