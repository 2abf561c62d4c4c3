import keras
import numpy as np
import pytest

from keras_unsup.models.dbn import DBN


def _digits():
    from keras_unsup import load_dataset

    return load_dataset("digits")


def test_each_layer_trains_on_the_hidden_probabilities_of_the_one_below():
    x = _digits().x_train[:200]
    dbn = DBN((8, 8, 1), layers=(12, 6, 9), seed=0)
    seen = []

    def fit_layer(index, rbm, inputs):
        seen.append((index, inputs.copy(), rbm.kernel.numpy().copy()))
        return rbm.fit(inputs, batch_size=50, epochs=1, verbose=0)

    dbn.pretrain(x, epochs=1, fit_layer=fit_layer)
    assert [i for i, _, _ in seen] == [0, 1, 2]
    assert [s[1].shape for s in seen] == [(200, 8, 8, 1), (200, 12), (200, 6)]
    np.testing.assert_array_equal(seen[0][1], x)
    # the inputs of layer i are the probabilities of the *trained* layer i - 1
    np.testing.assert_allclose(seen[1][1], dbn.rbms[0].transform(x), rtol=1e-6)
    np.testing.assert_allclose(seen[2][1], dbn.rbms[1].transform(seen[1][1]), rtol=1e-6)
    assert not np.allclose(seen[1][2], dbn.rbms[1].kernel.numpy())  # each layer trained
    np.testing.assert_allclose(dbn.layer_inputs(x, 2), seen[2][1], rtol=1e-6)
    assert dbn.transform(x).shape == (200, 9)
    assert 0.0 <= dbn.transform(x).min() and dbn.transform(x).max() <= 1.0


def test_default_pretraining_changes_every_layer_and_samples_images():
    x = _digits().x_train[:128]
    dbn = DBN((8, 8, 1), layers=(10, 5), seed=0)
    before = [r.kernel.numpy().copy() for r in dbn.rbms]
    histories = dbn.pretrain(x, epochs=2, batch_size=32, seed=0)
    assert [len(h.epoch) for h in histories] == [2, 2]
    assert all(not np.allclose(b, r.kernel.numpy()) for b, r in zip(before, dbn.rbms))
    samples = dbn.sample(6, 20, seed=0)
    assert samples.shape == (6, 8, 8, 1) and 0.0 <= samples.min() and samples.max() <= 1.0
    np.testing.assert_array_equal(samples, dbn.sample(6, 20, seed=0))
    assert dbn.sample(3, 5, seed=0, start=x[:3]).shape == (3, 8, 8, 1)


def test_default_pretraining_starts_each_visible_bias_from_its_inputs(monkeypatch):
    from keras_unsup.models.rbm import RBM

    x = _digits().x_train[:128]
    dbn = DBN((8, 8, 1), layers=(10, 5), seed=0)
    started = []
    fit = RBM.fit

    def record(self, *args, **kwargs):  # the bias at the moment each layer's fit begins
        started.append(self.visible_bias.numpy().copy())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(RBM, "fit", record)
    dbn.pretrain(x, epochs=1, batch_size=32, seed=0)
    assert len(started) == 2
    for index, bias in enumerate(started):
        # layer i's inputs: x, then the trained layer below's probabilities (which do not
        # change once that layer is trained)
        inputs = dbn.layer_inputs(x, index).reshape(len(x), -1)
        p = np.clip(inputs.mean(axis=0), 1e-3, 1 - 1e-3)
        np.testing.assert_allclose(bias, np.log(p / (1 - p)), rtol=1e-4, atol=1e-4)
    assert np.abs(started[0]).max() > 1.0  # digits' border pixels: far from log-odds 0


@pytest.mark.slow
def test_save_and_load_give_identical_outputs(tmp_path):
    x = _digits().x_train[:128]
    dbn = DBN((8, 8, 1), layers=(10, 5), persistent=True, n_chains=8, seed=0)
    dbn.pretrain(x, epochs=1, batch_size=32, seed=0)
    dbn.save(tmp_path / "dbn.keras")
    loaded = keras.saving.load_model(tmp_path / "dbn.keras")
    assert type(loaded) is DBN and loaded.layer_sizes == (10, 5)
    np.testing.assert_array_equal(loaded.transform(x), dbn.transform(x))
    np.testing.assert_array_equal(loaded.rbms[1].chains.numpy(), dbn.rbms[1].chains.numpy())
    np.testing.assert_array_equal(loaded.sample(4, 10, seed=1), dbn.sample(4, 10, seed=1))


@pytest.mark.parametrize("kwargs, name", [({"layers": (10, 0)}, "layers"),
                                          ({"layers": ()}, "layers"), ({"k": 0}, "k")])
def test_bad_arguments_are_clear_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}` must be"):
        DBN((8, 8, 1), **kwargs)


def test_bad_inputs_are_clear_errors():
    dbn = DBN((8, 8, 1), layers=(4,))
    with pytest.raises(ValueError, match=r"`x` must hold values in \[0.0, 1.0\]"):
        dbn.pretrain(np.full((4, 8, 8, 1), -1.0), epochs=1)
    with pytest.raises(ValueError, match="finite"):
        dbn.transform(np.full((4, 8, 8, 1), np.nan))
