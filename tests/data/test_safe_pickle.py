import os
import pickle

import numpy as np
import pytest

from keras_unsup.data.datasets import load_dataset
from keras_unsup.data.safe_pickle import UnsafePickleError, load_restricted, loads_restricted


def _cifar_batch(n, value, rng):
    # The real batches: a dict with bytes keys, a uint8 (n, 3072) array, lists, bytes.
    return {b"batch_label": b"training batch 1 of 5",
            b"labels": rng.integers(0, 10, n).tolist(),
            b"data": np.full((n, 3072), value, np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_cifar_batch_loads(tmp_path, protocol):
    rng = np.random.default_rng(0)
    batch = _cifar_batch(7, 200, rng)
    batch[b"data"][3, :5] = [1, 2, 3, 4, 5]
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    loaded = load_restricted(path)
    assert set(loaded) == set(batch)
    assert loaded[b"data"].dtype == np.uint8 and loaded[b"data"].shape == (7, 3072)
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == batch[b"labels"]
    assert loaded[b"filenames"][2] == b"img_2.png"


def test_python2_style_strings_load_as_bytes():
    # Python 2's str pickles as SHORT_BINSTRING; with encoding="bytes" it stays bytes.
    data = b"\x80\x02}q\x00U\x06labelsq\x01]q\x02(K\x01K\x02es."
    assert loads_restricted(data) == {b"labels": [1, 2]}


class _RunsCode:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    payload = {b"data": _RunsCode(f"echo pwned > {marker}"), b"labels": [0]}
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"Refused to unpickle '.*data_batch_1'.*"
                                                r"'(posix|nt)\.system'"):
        load_restricted(path)
    assert not marker.exists()


def test_other_globals_and_codecs_are_refused():
    with pytest.raises(UnsafePickleError, match=r"'builtins\.eval'"):
        loads_restricted(b"\x80\x02cbuiltins\neval\nq\x00X\x04\x00\x00\x001+1q\x01\x85q\x02Rq\x03.")
    with pytest.raises(UnsafePickleError, match="latin1"):
        loads_restricted(pickle.dumps(b"x", protocol=2).replace(b"latin1", b"rot_13"))


def test_load_dataset_refuses_a_malicious_cifar_batch(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(_cifar_batch(2, 0, rng), protocol=2))
    marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(
        pickle.dumps({b"data": _RunsCode(f"touch {marker}"), b"labels": [0]}, protocol=2))
    monkeypatch.setenv("KERAS_UNSUP_DATA_DIR", str(tmp_path))
    with pytest.raises(UnsafePickleError, match="data_batch_3"):
        load_dataset("cifar10", download=False)
    assert not marker.exists()
    (folder / "data_batch_3").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match=r"b'data' and b'labels'.*data_batch_3.*list"):
        load_dataset("cifar10", download=False)
