import keras
import numpy as np
import pytest

from keras_unsup.layers.memory_bank import MemoryBank


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_starts_near_unit_length_and_scores_cosines():
    bank = MemoryBank(500, 32, seed=0)
    entries = bank.bank.numpy()
    assert entries.shape == (500, 32)
    assert abs(np.linalg.norm(entries, axis=1).mean() - 1.0) < 0.1
    f = _unit(np.random.default_rng(0).normal(size=(3, 32))).astype("float32")
    np.testing.assert_allclose(np.asarray(bank(f)), f @ entries.T, atol=1e-5)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_write_moves_only_the_batch_entries(momentum):
    bank = MemoryBank(10, 4, momentum=momentum, seed=1)
    before = bank.bank.numpy().copy()
    f = _unit(np.random.default_rng(2).normal(size=(3, 4))).astype("float32")
    idx = np.array([7, 2, 5])
    bank.write(idx, f)
    after = bank.bank.numpy()
    expected = _unit(momentum * before[idx] + (1 - momentum) * f)
    np.testing.assert_allclose(after[idx], expected, atol=1e-6)
    others = np.setdiff1d(np.arange(10), idx)
    np.testing.assert_array_equal(after[others], before[others])
    np.testing.assert_allclose(np.asarray(bank.read(idx)), expected, atol=1e-6)


def test_a_bank_smaller_than_a_batch_is_refused():
    bank = MemoryBank(4, 3)
    with pytest.raises(ValueError, match=r"holds 4 entries.*fewer than a batch.*Received: "
                                         r"batch_size=8"):
        bank.check_batch_size(8)
    with pytest.raises(ValueError, match="holds 4 entries"):
        bank.write(np.arange(5), np.ones((5, 3), "float32"))
    assert bank.check_batch_size(4) == 4


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 0, "dim": 3}, "`size` must be an integer >= 1"),
    ({"size": 3, "dim": 3, "momentum": 1.0}, r"`momentum` must be a number in \[0.0, 1.0\)"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MemoryBank(**kwargs)


def test_config_round_trip_and_saved_entries(tmp_path):
    bank = MemoryBank(6, 2, momentum=0.3, seed=4, name="bank")
    again = MemoryBank.from_config(bank.get_config())
    assert (again.size, again.dim, again.momentum, again.seed) == (6, 2, 0.3, 4)
    # The entries are weights: a model holding the bank saves and loads them.
    inputs = keras.Input((2,))
    model = keras.Model(inputs, bank(inputs))
    bank.write(np.array([0, 3]), np.array([[1.0, 0.0], [0.0, 1.0]], "float32"))
    model.save(tmp_path / "bank.keras")
    loaded = keras.saving.load_model(tmp_path / "bank.keras")
    np.testing.assert_array_equal(loaded.layers[-1].bank.numpy(), bank.bank.numpy())
