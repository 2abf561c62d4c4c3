"""Backbones (encoders) for self-supervised methods, built with the Functional API.

`build_small_convnet` is the very small ConvNet of the seed results (two
convolutions, one max-pool, one fully connected layer) for any image shape;
`build_projection_head` is the MLP that SimCLR and MoCo v2 put on top of it.
`embedding_dim_of` checks that a user's own backbone returns flat vectors.
"""

import keras
from keras import layers

from keras_unsup.checks import check_input_shape, check_positive_int, check_units


def build_small_convnet(input_shape, embedding_dim=128, filters=(32, 64), pool_size=2,
                        name="small_convnet"):
    """A very small ConvNet encoder: 2 convolutions, 1 max-pool, 1 dense layer.

    `Conv(f1, 3) -> ReLU -> MaxPool(pool_size) -> Conv(f2, 3) -> ReLU -> Flatten ->
    Dense(embedding_dim)`. Works for any image size of at least 5 x 5 (with the
    default `pool_size=2`) and any number of channels; for large images raise
    `pool_size` to keep the dense layer small.

    Args:
        input_shape: `(height, width, channels)`.
        embedding_dim: size of the output embedding.
        filters: filters of the two convolutions.
        pool_size: size and stride of the max-pool.
        name: name of the model.

    Returns:
        A Functional `keras.Model` from images to `(batch, embedding_dim)` embeddings.

    Example:

    >>> encoder = build_small_convnet((28, 28, 1), embedding_dim=128)
    >>> encoder.output.shape
    (None, 128)
    """
    input_shape = check_input_shape(input_shape)
    height, width, _ = input_shape
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    pool_size = check_positive_int(pool_size, "pool_size")
    filters = check_units(filters, "filters")
    if len(filters) != 2:
        raise ValueError(f"`filters` must be a pair of integers >= 1. Received: filters={filters!r}")
    if (min(height, width) - 2) // pool_size < 3:
        raise ValueError(
            f"`input_shape` must be at least {3 * pool_size + 2} pixels high and wide for "
            f"pool_size={pool_size}. Received: input_shape={input_shape}"
        )
    inputs = keras.Input(shape=input_shape, name="images")
    x = layers.Conv2D(filters[0], 3, activation="relu", name="conv_1")(inputs)
    # Pooling before the second convolution makes it 4x cheaper (CPU training).
    x = layers.MaxPooling2D(pool_size, name="pool")(x)
    x = layers.Conv2D(filters[1], 3, activation="relu", name="conv_2")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(embedding_dim, name="embedding")(x)
    return keras.Model(inputs, outputs, name=name)


def build_projection_head(input_dim, output_dim=64, hidden_dim=None, name="projection_head"):
    """The MLP `Dense(hidden) -> ReLU -> Dense(output_dim)` on top of an encoder.

    Args:
        input_dim: size of the encoder's embedding.
        output_dim: size of the projection the loss sees.
        hidden_dim: hidden units (default: `input_dim`).
        name: name of the model.

    Returns:
        A Functional `keras.Model` from `(batch, input_dim)` to `(batch, output_dim)`.
    """
    input_dim = check_positive_int(input_dim, "input_dim")
    output_dim = check_positive_int(output_dim, "output_dim")
    hidden_dim = check_positive_int(hidden_dim, "hidden_dim", allow_none=True) or input_dim
    inputs = keras.Input(shape=(input_dim,), name="embedding")
    x = layers.Dense(hidden_dim, activation="relu", name="hidden")(inputs)
    outputs = layers.Dense(output_dim, name="projection")(x)
    return keras.Model(inputs, outputs, name=name)


def embedding_dim_of(encoder, name="encoder"):
    """The embedding size of `encoder`, which must map images to flat vectors.

    Raises:
        ValueError: when `encoder` is not a built Keras model with one output of
            shape `(batch, dim)`.
    """
    if not isinstance(encoder, keras.Model):
        raise ValueError(f"`{name}` must be a keras.Model (a Functional backbone). "
                         f"Received: {name}={encoder!r}")
    try:
        outputs = encoder.outputs
    except (AttributeError, ValueError):
        outputs = None
    if not outputs or len(outputs) != 1:
        raise ValueError(f"`{name}` must be a Functional model with exactly one output. "
                         f"Received: outputs={outputs!r}")
    shape = tuple(outputs[0].shape)
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"`{name}` must output a flat vector per image, shape (batch, dim); add "
            f"Flatten or GlobalAveragePooling2D. Received: output shape {shape}"
        )
    return int(shape[-1])
