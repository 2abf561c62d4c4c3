"""`--distribute`: the recipes train under a tf.distribute strategy chosen by name."""

import pytest

from keras_unsup import cli
from keras_unsup.recipes import run_recipe


def test_a_recipe_trains_under_mirrored_strategy(tmp_path):
    metrics = run_recipe("dense-ae", quick=True, epochs=1, out_dir=tmp_path, verbose=0,
                         distribute="mirrored")
    assert metrics["distribute"] == "mirrored"
    assert metrics["optimizer_steps"] == metrics["optimizer_steps_this_call"] > 0
    assert metrics["recon_mse"] < 0.2


def test_unknown_strategy_is_refused_in_the_users_words(capsys):
    with pytest.raises(ValueError, match=r"`distribute` must be one of .*Received: distribute='tpu'"):
        run_recipe("dense-ae", quick=True, distribute="tpu")
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "dense-ae", "--distribute", "tpu"])
    assert info.value.code == 2
    assert "keras-unsup: error: argument --distribute: invalid choice: 'tpu'" in capsys.readouterr().err
