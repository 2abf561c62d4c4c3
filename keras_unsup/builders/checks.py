"""Argument and data checks shared by the builders and the recipes.

Keras reports a wrong image shape deep inside the first layer that cannot take
it; these checks fail first, name the argument, and say what was expected and
what was received.
"""

import numbers


def check_input_shape(input_shape, name="input_shape"):
    """Validates an image shape `(height, width, channels)` and returns it as a tuple.

    Args:
        input_shape: a sequence of three positive integers.
        name: the argument name used in the error message.

    Returns:
        `input_shape` as a tuple of three Python ints.

    Raises:
        ValueError: if `input_shape` is not three positive integers.

    Example:

    >>> check_input_shape([28, 28, 1])
    (28, 28, 1)
    """
    valid = (
        isinstance(input_shape, (tuple, list))
        and len(input_shape) == 3
        and all(_is_int(d) and d > 0 for d in input_shape)
    )
    if not valid:
        raise ValueError(
            f"`{name}` must be a tuple of three positive integers "
            f"(height, width, channels), for example (28, 28, 1). "
            f"Received: {name}={input_shape!r}"
        )
    return tuple(int(d) for d in input_shape)


def check_positive_int(value, name):
    """Validates that `value` is an integer >= 1 and returns it as an int.

    Args:
        value: the value to check.
        name: the argument name used in the error message.

    Returns:
        `value` as a Python int.

    Raises:
        ValueError: if `value` is not an integer >= 1.

    Example:

    >>> check_positive_int(10, "code_size")
    10
    """
    if not _is_int(value) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    return int(value)


def check_units(units, name, allow_empty=True):
    """Validates a sequence of layer widths (or filter counts) and returns a tuple.

    Args:
        units: a sequence of integers >= 1.
        name: the argument name used in the error message.
        allow_empty: whether an empty sequence is accepted.

    Returns:
        `units` as a tuple of Python ints.

    Raises:
        ValueError: if `units` is not a sequence of integers >= 1 (or is empty when
            `allow_empty` is False).

    Example:

    >>> check_units([500, 500, 2000], "hidden_units")
    (500, 500, 2000)
    """
    valid = (
        isinstance(units, (tuple, list))
        and (allow_empty or len(units) > 0)
        and all(_is_int(u) and u > 0 for u in units)
    )
    if not valid:
        expected = "a sequence of integers >= 1"
        if not allow_empty:
            expected = "a non-empty " + expected[2:]
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={units!r}")
    return tuple(int(u) for u in units)


def check_images(x, model, name="x"):
    """Checks that a batch of images fits a model's input before training on it.

    Args:
        x: an array or tensor with a `.shape`, expected `(n, height, width, channels)`.
        model: a Keras model with a single image input.
        name: the argument name used in the error message.

    Returns:
        `x`, unchanged.

    Raises:
        ValueError: if `x` is not a rank-4 batch whose image shape equals the
            model's input shape.

    Example:

    >>> autoencoder, encoder, decoder = build_dense_autoencoder(input_shape=(28, 28, 1))
    >>> check_images(np.zeros((5, 28, 28)), autoencoder)
    Traceback (most recent call last):
    ValueError: `x` must have shape (n, 28, 28, 1) to match the model's input. ...
    """
    expected = tuple(model.input_shape[1:])
    shape = getattr(x, "shape", None)
    shape = None if shape is None else tuple(
        None if d is None else int(d) for d in shape
    )
    if shape is None or len(shape) != 1 + len(expected) or _mismatch(shape[1:], expected):
        wanted = ", ".join(["n"] + ["None" if d is None else str(d) for d in expected])
        raise ValueError(
            f"`{name}` must have shape ({wanted}) to match the model's input. "
            f"Received: {name}.shape={shape}"
        )
    return x


def _mismatch(shape, expected):
    return any(e is not None and s != e for s, e in zip(shape, expected))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
