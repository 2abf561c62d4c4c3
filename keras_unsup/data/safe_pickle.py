"""A restricted unpickler for the one pickled data format we read: CIFAR-10's batches.

Python's general unpickler runs whatever a pickle asks for (a pickle can call
`os.system`), so a data file from a mirror or a shared folder must not go through it.
CIFAR-10's "python version" batches are pickled dicts of bytes, lists of ints and one
uint8 NumPy array. `load_restricted` admits exactly the globals those need (NumPy's
array, dtype and scalar reconstruction, in each pickle protocol, and the latin-1 `_codecs.encode` that protocol-2
pickles written by Python 3 use for bytes) and refuses every other global with an
`UnsafePickleError` that names the file and the global.

Example:

>>> batch = load_restricted("cifar-10-batches-py/data_batch_1")
>>> batch[b"data"].shape
(10000, 3072)
"""

import codecs
import io
import pickle

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """Raised when a data file's pickle asks for a global outside the allowed few."""


def _latin1_encode(text, encoding="latin1", errors="strict"):
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, "latin1");
    # no other codec is needed, so no other is reachable.
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1" or errors != "strict":
        raise UnsafePickleError(
            f"_codecs.encode is admitted only as encode(str, 'latin1'). "
            f"Received: encode({type(text).__name__}, {encoding!r}, {errors!r})"
        )
    return text.encode("latin1")


def _numpy_globals():
    try:
        from numpy._core import multiarray, numeric  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import multiarray, numeric
    allowed = {}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        # protocol 5 pickles arrays as _frombuffer(buffer, dtype, shape, order)
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


ALLOWED_GLOBALS = tuple(sorted(f"{m}.{n}" for m, n in _numpy_globals()))


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only NumPy array reconstruction and latin-1 bytes.

    Args:
        file: a binary file object.
        source: how to name the file in error messages (its path).
        **kwargs: passed to `pickle.Unpickler` (e.g. `encoding="bytes"`).
    """

    def __init__(self, file, source="<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = str(source)
        self._allowed = _numpy_globals()

    def find_class(self, module, name):
        found = self._allowed.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"Refused to unpickle '{self.source}': it asks for the global "
                f"'{module}.{name}', and a data file may use only {list(ALLOWED_GLOBALS)}. "
                f"The file is not a data batch as Keras distributes it; delete it and "
                f"download the dataset again."
            )
        return found


def load_restricted(path, *, encoding="bytes"):
    """Unpickles the file at `path` with `RestrictedUnpickler` (CIFAR-10's batches).

    Args:
        path: the pickle file.
        encoding: how Python 2 `str` objects load; `"bytes"` keeps CIFAR-10's keys
            as `b"data"`, `b"labels"`, as Keras reads them.

    Raises:
        UnsafePickleError: the pickle refers to any other global (it could run code).
    """
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, source=path, encoding=encoding).load()


def loads_restricted(data, *, source="<bytes>", encoding="bytes"):
    """`load_restricted` for a pickle already in memory."""
    return RestrictedUnpickler(io.BytesIO(data), source=source, encoding=encoding).load()
