"""Images to codes, in batches, with any encoder.

An encoder is a Keras model (a VAE's encoder with outputs `[z_mean, z_log_var, z]`
included: `output_index` picks one), any callable on a NumPy batch, or `None` for
the raw pixels, flattened (the floor every learned code should beat).
"""

import numpy as np

from keras_unsup.checks import check_positive_int


def expected_input_shape(encoder):
    """The per-image input shape an encoder declares, or `None` when it declares none.

    Unknown dimensions are `None`. A Keras model's `input_shape` is `(None, *shape)`.
    """
    shape = getattr(encoder, "input_shape", None)
    if shape is None:
        return None
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError(
                "`encoder` must take a single input. "
                f"Received: an encoder with {len(shape)} inputs of shapes {shape}"
            )
        shape = shape[0]
    return tuple(shape[1:])


def check_images(images, expected_shape=None, name="images"):
    """`images` as a float32 array of at least one image, of `expected_shape` per image.

    Raises a `ValueError` naming `name`, the expected and the received shape.
    """
    images = np.asarray(images)
    if images.ndim < 2 or len(images) == 0:
        raise ValueError(
            f"`{name}` must be a non-empty batch of images, shape (n, ...). "
            f"Received: {name}.shape={images.shape}"
        )
    if expected_shape is not None:
        received = tuple(images.shape[1:])
        ok = len(received) == len(expected_shape) and all(
            e is None or int(e) == int(r) for e, r in zip(expected_shape, received)
        )
        if not ok:
            expected = "(n, " + ", ".join(str(e) for e in expected_shape) + ")"
            raise ValueError(
                f"`{name}` must have the encoder's input shape {expected}. "
                f"Received: {name}.shape={images.shape}"
            )
    if not np.issubdtype(images.dtype, np.number) and images.dtype != bool:
        raise ValueError(f"`{name}` must hold numbers. Received: dtype {images.dtype}")
    return images.astype(np.float32, copy=False)


def predict_batch(model, batch, batch_size):
    """`model` on one batch; a Keras model's short last batch is padded to `batch_size`
    so that its compiled predict function is traced once, not once per batch size."""
    predict = getattr(model, "predict_on_batch", None)
    if predict is None:
        return model(batch)
    n = len(batch)
    if n < batch_size:
        pad = np.zeros((batch_size - n, *batch.shape[1:]), dtype=batch.dtype)
        out = predict(np.concatenate([batch, pad]))
        if isinstance(out, dict):
            return {key: value[:n] for key, value in out.items()}
        if isinstance(out, (list, tuple)):
            return [value[:n] for value in out]
        return out[:n]
    return predict(batch)


def _encode_batch(encoder, batch, output_index, batch_size):
    if encoder is None:
        return batch.reshape(len(batch), -1)
    out = predict_batch(encoder, batch, batch_size)
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        if not -len(out) <= output_index < len(out):
            raise ValueError(
                f"`output_index` must pick one of the encoder's {len(out)} outputs. "
                f"Received: output_index={output_index}"
            )
        out = out[output_index]
    out = np.asarray(out, dtype=np.float32)
    return out.reshape(len(batch), -1)


def encode_images(encoder, images, *, batch_size=256, output_index=0, show_progress=False):
    """Codes of `images` as a float32 array `(n, d)`, computed batch by batch.

    Args:
        encoder: a Keras model, a callable on a NumPy batch, or `None` (raw pixels).
        images: array `(n, *input_shape)`; checked against the encoder's input shape.
        batch_size: images encoded at a time (bounds the memory of one step).
        output_index: which output to use when the encoder has several (a VAE's
            encoder gives `[z_mean, z_log_var, z]`; 0 takes the mean).
        show_progress: a tqdm progress bar over the images.

    Returns:
        float32 array `(n, d)`; codes of more than one axis are flattened.

    Example:

    >>> codes = encode_images(encoder, data.x_test, batch_size=512)
    """
    check_positive_int(batch_size, "batch_size")
    images = check_images(images, expected_input_shape(encoder))
    from tqdm.auto import tqdm

    n = len(images)
    codes = None
    with tqdm(total=n, desc="encoding", unit="img", disable=not show_progress) as bar:
        for start in range(0, n, batch_size):
            batch = _encode_batch(encoder, images[start:start + batch_size], output_index,
                                  min(batch_size, n))
            if codes is None:  # allocated once the code size is known
                codes = np.empty((n, batch.shape[1]), dtype=np.float32)
            codes[start:start + len(batch)] = batch
            bar.update(len(batch))
    return codes
