import json

import numpy as np
import pytest

from keras_unsup.data import load_dataset
from keras_unsup.recipes import run_recipe, training


@pytest.fixture(scope="module")
def small_digits():
    return load_dataset("digits").subset(300, 100, seed=0)


@pytest.mark.slow
def test_same_seed_gives_same_metrics(small_digits, tmp_path):
    a = run_recipe("dense-ae", epochs=2, seed=5, data=small_digits, verbose=0)
    b = run_recipe("dense-ae", epochs=2, seed=5, data=small_digits, verbose=0)
    c = run_recipe("dense-ae", epochs=2, seed=6, data=small_digits, verbose=0)
    assert a["recon_mse"] == b["recon_mse"] and a["acc"] == b["acc"]
    assert a["recon_mse"] != c["recon_mse"]


@pytest.mark.slow
def test_run_writes_the_run_folder(small_digits, tmp_path):
    metrics = run_recipe("vae", epochs=2, seed=0, data=small_digits, out_dir=tmp_path, verbose=0)
    for name in ("metrics.json", "reconstructions.png", "latent.png", "model.keras",
                 "encoder.keras", "decoder.keras"):
        assert (tmp_path / name).is_file(), name
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["method"] == "vae" and written["n_test"] == 100
    # negative ELBO per image on 8x8 Bernoulli pixels: positive, below 64 * log(2) * 4
    assert 0 < metrics["neg_elbo"] < 64 * np.log(2) * 4
    assert 0 <= written["acc"] <= 1 and written["wall_time_s"] > 0
    assert written["images_per_second"] > 0


@pytest.mark.slow
def test_interrupted_run_resumes_from_last_finished_epoch(small_digits, tmp_path, monkeypatch):
    original = training.Throughput.on_epoch_end

    def interrupt_after_second_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.Throughput, "on_epoch_end", interrupt_after_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_recipe("sparse-ae", epochs=4, seed=0, data=small_digits, out_dir=tmp_path, verbose=0)
    assert not (tmp_path / "metrics.json").exists()
    monkeypatch.setattr(training.Throughput, "on_epoch_end", original)

    run_epochs = []
    monkeypatch.setattr(training.Throughput, "on_epoch_begin",
                        lambda self, epoch, logs=None: (run_epochs.append(epoch),
                                                        setattr(self, "_start", 0.0)))
    metrics = run_recipe("sparse-ae", epochs=4, seed=0, data=small_digits, out_dir=tmp_path,
                         verbose=0)
    # the backup was written after epoch index 0 finished: the rerun runs epochs 1..3 only
    assert run_epochs == [1, 2, 3]
    assert metrics["epochs_trained"] == 4


def test_bad_arguments_fail_before_training(small_digits):
    with pytest.raises(ValueError, match=r"`code_size` must be an integer >= 1. Received: code_size=0"):
        run_recipe("dense-ae", data=small_digits, code_size=0)
    with pytest.raises(ValueError, match=r"`epochs` must be an integer >= 1.*Received: epochs=0"):
        run_recipe("vae", data=small_digits, epochs=0)
    with pytest.raises(ValueError, match=r"`method` must be one of .*Received: method='nope'"):
        run_recipe("nope", data=small_digits)


def test_labels_of_another_length_are_rejected(small_digits):
    import dataclasses

    bad = dataclasses.replace(small_digits, y_test=small_digits.y_test[:-3])
    with pytest.raises(ValueError, match=r"`y_test` must have one label per test image. Received: 97 labels for 100 images"):
        run_recipe("dense-ae", data=bad, epochs=1, verbose=0)
