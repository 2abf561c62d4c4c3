"""Argument and data checks: the one home of every check the package makes.

Layers, builders, models, callbacks, recipes and the CLI validate what they are given
with these functions, before any work is done. Each raises a `ValueError` that names
the argument as the caller typed it, says what was expected and what was received:
`` `code_size` must be an integer >= 1. Received: code_size=0 ``.

This module imports neither TensorFlow nor Keras at import time (`replicas_in_sync`
imports TensorFlow when called), so anything in the package may use it.
"""

import math
import numbers

import numpy as np


def is_int(value):
    """Whether `value` is an integer (Python or NumPy), booleans excluded."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """Whether `value` is a real number (Python or NumPy), booleans excluded."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(value, name, minimum=None, maximum=None, *, allow_none=False):
    """Validates an integer in `[minimum, maximum]` and returns it as a Python int.

    Args:
        value: the value to check.
        name: the argument name used in the error message.
        minimum: the smallest value allowed (`None`: no lower bound).
        maximum: the largest value allowed (`None`: no upper bound).
        allow_none: accept `None` (and return it).

    Example:

    >>> check_int(3, "n_init", 1)
    3
    """
    if value is None and allow_none:
        return None
    ok = is_int(value) and (minimum is None or value >= minimum) \
        and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            expected = f"an integer in [{minimum}, {maximum}]"
        elif minimum is not None:
            expected = f"an integer >= {minimum}"
        elif maximum is not None:
            expected = f"an integer <= {maximum}"
        else:
            expected = "an integer"
        if allow_none:
            expected += " or None"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(value, name, *, allow_none=False):
    """Validates an integer >= 1 and returns it as a Python int (the one positive-int check).

    Example:

    >>> check_positive_int(10, "code_size")
    10
    """
    return check_int(value, name, 1, allow_none=allow_none)


def check_number(value, name, low=None, high=None, *, low_open=False, high_open=False,
                 allow_none=False):
    """Validates a finite real number in the interval `low .. high` and returns a float.

    Args:
        value: the value to check.
        name: the argument name used in the error message.
        low, high: the bounds (`None`: unbounded on that side).
        low_open, high_open: exclude the bound itself.
        allow_none: accept `None` (and return it).

    Example:

    >>> check_number(0.5, "momentum", 0.0, 1.0, high_open=True)
    0.5
    """
    if value is None and allow_none:
        return None
    ok = is_number(value) and math.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        expected = f"a number in {left}{lo}, {hi}{right}"
        if low is None and high is None:
            expected = "a finite number"
        if allow_none:
            expected += " or None"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    return float(value)


def check_interval(value, name, low, high):
    """Validates a pair `(min, max)` with `low < min <= max <= high`; returns two floats."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(is_number(v) for v in value) or not low < value[0] <= value[1] <= high):
        raise ValueError(f"`{name}` must be a pair (min, max) with {low} < min <= max <= {high}. "
                         f"Received: {name}={value!r}")
    return (float(value[0]), float(value[1]))


def check_bool(value, name):
    """Validates a boolean (Python or NumPy) and returns it as a Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


def check_choice(value, name, choices):
    """Validates that `value` is one of `choices` and returns it."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def check_seed(seed, name="seed"):
    """Validates a seed: `None` or an integer >= 0."""
    return check_int(seed, name, 0, allow_none=True)


def check_input_shape(input_shape, name="input_shape"):
    """Validates an image shape `(height, width, channels)` and returns it as a tuple.

    Example:

    >>> check_input_shape([28, 28, 1])
    (28, 28, 1)
    """
    valid = (
        isinstance(input_shape, (tuple, list))
        and len(input_shape) == 3
        and all(is_int(d) and d > 0 for d in input_shape)
    )
    if not valid:
        raise ValueError(
            f"`{name}` must be a tuple of three positive integers "
            f"(height, width, channels), for example (28, 28, 1). "
            f"Received: {name}={input_shape!r}"
        )
    return tuple(int(d) for d in input_shape)


def check_image_size(image_size, name="image_size", *, allow_none=True):
    """Validates an image size `(height, width)` of positive integers; returns a tuple.

    Example:

    >>> check_image_size([64, 48])
    (64, 48)
    """
    if image_size is None and allow_none:
        return None
    valid = (isinstance(image_size, (tuple, list)) and len(image_size) == 2
             and all(is_int(d) and d > 0 for d in image_size))
    if not valid:
        expected = "a pair of positive integers (height, width), for example (64, 64)"
        if allow_none:
            expected += ", or None"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={image_size!r}")
    return tuple(int(d) for d in image_size)


def check_units(units, name, allow_empty=True):
    """Validates a sequence of layer widths (or filter counts) and returns a tuple.

    Example:

    >>> check_units([500, 500, 2000], "hidden_units")
    (500, 500, 2000)
    """
    valid = (
        isinstance(units, (tuple, list))
        and (allow_empty or len(units) > 0)
        and all(is_int(u) and u > 0 for u in units)
    )
    if not valid:
        expected = "a sequence of integers >= 1"
        if not allow_empty:
            expected = "a non-empty " + expected[2:]
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={units!r}")
    return tuple(int(u) for u in units)


def check_image_array(x, name="x", image_shape=None, *, finite=True, dtype=np.float32):
    """The one image-array check: a non-empty NHWC batch of numbers, as a NumPy array.

    Args:
        x: an array-like of shape `(n, height, width, channels)`.
        name: the argument name used in the error message.
        image_shape: the shape one image must have (entries `None` match anything),
            e.g. a model's `input_shape[1:]`; `None` accepts any `(h, w, c)`.
        finite: refuse NaN and infinite values.
        dtype: the dtype of the returned array (`None`: keep it).

    Returns:
        `x` as a NumPy array of `dtype` (no copy when it already is one).

    Example:

    >>> check_image_array(np.zeros((5, 8, 8, 1)), "x_train", (8, 8, 1)).shape
    (5, 8, 8, 1)
    """
    x = np.asarray(x)
    if image_shape is not None:
        image_shape = tuple(image_shape)
        wanted = "(" + ", ".join(["n"] + ["None" if d is None else str(d)
                                         for d in image_shape]) + ")"
    else:
        wanted = "(n, height, width, channels)"
    shape_ok = x.ndim == 4 and (image_shape is None or (
        len(image_shape) == 3
        and all(e is None or int(e) == int(s) for e, s in zip(image_shape, x.shape[1:]))))
    if not shape_ok:
        raise ValueError(f"`{name}` must be a batch of images of shape {wanted}. "
                         f"Received: {name}.shape={x.shape}")
    if len(x) == 0:
        raise ValueError(f"`{name}` must hold at least one image. Received: {name}.shape={x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"`{name}` must hold numbers. Received: {name}.dtype={x.dtype}")
    if finite and np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must hold only finite values. "
                         f"Received: {name} with NaN or infinite values")
    return x if dtype is None else x.astype(dtype, copy=False)


def check_array_range(x, name, low=None, high=None):
    """Validates a non-empty array of finite numbers within `[low, high]`; returns it
    as a float32 NumPy array (e.g. the inputs of a Bernoulli RBM, which are
    probabilities in [0, 1]).

    Example:

    >>> check_array_range(np.full((2, 3), 0.5), "x", 0.0, 1.0).shape
    (2, 3)
    """
    x = np.asarray(x)
    if x.size == 0:
        raise ValueError(f"`{name}` must hold at least one value. Received: {name}.shape={x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"`{name}` must hold numbers. Received: {name}.dtype={x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must hold only finite values. "
                         f"Received: {name} with NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if (low is not None and lo < low) or (high is not None and hi > high):
        wanted = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"`{name}` must hold values in {wanted}. "
                         f"Received: {name} with values in [{lo:g}, {hi:g}]")
    return x


def check_images(x, model, name="x"):
    """Checks that a batch of images fits a model's (single) image input; returns `x`.

    Raises:
        ValueError: if `x` is not a rank-4 batch whose image shape equals the
            model's input shape.
    """
    expected = tuple(model.input_shape[1:])
    shape = getattr(x, "shape", None)
    shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
    if (shape is None or len(shape) != 1 + len(expected)
            or any(e is not None and s != e for s, e in zip(shape[1:], expected))):
        wanted = ", ".join(["n"] + ["None" if d is None else str(d) for d in expected])
        raise ValueError(f"`{name}` must have shape ({wanted}) to match the model's input. "
                         f"Received: {name}.shape={shape}")
    return x


def check_indices(indices, name, n, into):
    """Validates that every entry of an integer array indexes a sequence of length `n`
    (called `into` in the message) and returns it as a NumPy array."""
    indices = np.asarray(indices)
    if indices.size and (not np.issubdtype(indices.dtype, np.integer)
                         or indices.min() < 0 or indices.max() >= n):
        shown = (f"values in [{indices.min()}, {indices.max()}]"
                 if np.issubdtype(indices.dtype, np.number) else f"dtype {indices.dtype}")
        raise ValueError(f"`{name}` must index `{into}` (0..{n - 1}). Received: {shown}")
    return indices


def check_view_pair(data, model_name):
    """`(view_1, view_2)` from a training batch of a two-view model, or a clear error."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise ValueError(
        f"{model_name} trains on pairs of views `(view_1, view_2)`, as "
        "`keras_unsup.data.views.two_view_dataset` yields them. "
        f"Received: a batch of type {type(data).__name__}"
    )


def replicas_in_sync():
    """Number of replicas training in sync under the current tf.distribute strategy
    (1 outside one)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def check_colour_images(image_shape, name="data", value=None):
    """Validates that images of `image_shape` `(height, width, channels)` are RGB colour
    images (3 channels), e.g. for methods that learn from colour; returns the shape.
    `value` is what the user passed as `name` (e.g. a dataset's name), for the message.

    Example:

    >>> check_colour_images((32, 32, 3))
    (32, 32, 3)
    """
    shape = tuple(image_shape)
    if len(shape) != 3 or shape[-1] != 3:
        channels = shape[-1] if shape else None
        given = name if value is None else f"{name}={value!r}"
        raise ValueError(f"`{name}` must hold colour images (3 channels, RGB). Received: "
                         f"{given} with {channels} channel{'s' if channels != 1 else ''} "
                         f"(image shape {shape})")
    return shape
