"""The shared tile encoder of the patch-based pretext tasks, built with the Functional API.

Relative position, jigsaw and counting all look at tiles of an image through one
network, the same weights for every tile (a Siamese, or "late fusion", network):

- `build_tile_encoder`: the small ConvNet (`build_small_convnet`) on one tile, with an
  optional per-tile standardisation in front (Noroozi and Favaro, 2016);
- `encode_tiles`: that encoder applied to a batch of tiles `(batch, n_tiles, t, t, c)`
  in one call (the train steps use it);
- `build_tiled_encoder`: the image encoder the probes score, the tile encoder applied
  to tiles that cover the whole image, their embeddings concatenated in order (so the
  embedding keeps where each tile was). Built from `Cropping2D` layers and the shared
  tile encoder only: it saves and loads in safe mode.
- `tile_encoder_of`: the tile encoder inside such an image encoder.
"""

import keras
from keras import layers, ops

from keras_unsup.builders.backbones import build_small_convnet, embedding_dim_of
from keras_unsup.checks import check_bool, check_input_shape, check_int, check_positive_int
from keras_unsup.data.patches import covering_positions

# The small ConvNet's two 3x3 convolutions need 5 pixels (without pooling) and 8 with
# the 2x2 max-pool.
MIN_TILE = 5
TILE_ENCODER = "tile_encoder"


def build_tile_encoder(tile_size, channels=1, embedding_dim=128, filters=(32, 64),
                       normalize=False, name=TILE_ENCODER):
    """The small ConvNet on one square tile, optionally standardising the tile first.

    `[LayerNormalization over the tile] -> build_small_convnet(...)`: the max-pool is
    2x2 for tiles of 8 pixels or more, absent (1x1) for tiles of 5 to 7 pixels.
    Standardising each tile on its own (zero mean, unit variance; a blank tile stays
    blank) is the trick of Noroozi and Favaro, "Unsupervised Learning of Visual
    Representations by Solving Jigsaw Puzzles" (ECCV 2016), against solving a puzzle
    from the tiles' mean brightness and contrast.

    Args:
        tile_size: side of the tiles in pixels, at least 5 (a `PatchGrid`'s
            `tile_size`).
        channels: channels of the images.
        embedding_dim: size of each tile's embedding.
        filters: filters of the two convolutions.
        normalize: standardise each tile before the convolutions.
        name: name of the model.

    Returns:
        A Functional `keras.Model` `(batch, tile_size, tile_size, channels) ->
        (batch, embedding_dim)`.

    Example:

    >>> grid = PatchGrid((28, 28))
    >>> build_tile_encoder(grid.tile_size, 1, 64).output_shape
    (None, 64)
    """
    tile_size = check_int(tile_size, "tile_size", MIN_TILE)
    channels = check_positive_int(channels, "channels")
    normalize = check_bool(normalize, "normalize")
    shape = (tile_size, tile_size, channels)
    convnet = build_small_convnet(shape, embedding_dim=embedding_dim, filters=filters,
                                  pool_size=2 if tile_size >= 8 else 1, name=f"{name}_convnet")
    if not normalize:
        return keras.Model(convnet.inputs[0], convnet.outputs[0], name=name)
    inputs = keras.Input(shape, name="tile")
    # Over height, width and channels: one mean and deviation per tile.
    x = layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False,
                                  name="tile_standardisation")(inputs)
    return keras.Model(inputs, convnet(x), name=name)


def tile_size_of(tile_encoder, name="tile_encoder"):
    """`(tile_size, channels, embedding_dim)` of a tile encoder, which must take square
    tiles and return flat vectors."""
    embedding_dim = embedding_dim_of(tile_encoder, name)
    shape = tuple(tile_encoder.inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] is None:
        raise ValueError(f"`{name}` must take square tiles (batch, size, size, channels). "
                         f"Received: input shape {shape}")
    return int(shape[1]), int(shape[3]), embedding_dim


def encode_tiles(tile_encoder, tiles, training=False):
    """The tile encoder on every tile of a batch, in one call (shared weights).

    Args:
        tile_encoder: a model from `(n, t, t, c)` tiles to `(n, d)` embeddings.
        tiles: `(batch, n_tiles, t, t, c)`.
        training: passed to the encoder.

    Returns:
        `(batch, n_tiles, d)` embeddings.
    """
    _, n_tiles, height, width, channels = tiles.shape
    flat = ops.reshape(tiles, (-1, height, width, channels))
    codes = tile_encoder(flat, training=training)
    return ops.reshape(codes, (-1, n_tiles, codes.shape[-1]))


def build_tiled_encoder(input_shape, tile_encoder, name="tiled_encoder"):
    """An image encoder made of a tile encoder: tiles that cover the image, concatenated.

    The image is cut into the tiles of `covering_positions(image_size, tile_size)` (a
    stride of one tile, the last row and column flush with the border); each goes
    through the same `tile_encoder` and the embeddings are concatenated row by row, so
    a probe sees what is where. This is what the linear probe, kNN and k-means score
    for the patch-based pretext tasks: the features the pretext task trained, on every
    pixel of the image.

    Args:
        input_shape: `(height, width, channels)` of the images.
        tile_encoder: a model from square tiles to flat embeddings (see
            `build_tile_encoder`), with the images' channels.
        name: name of the model.

    Returns:
        A Functional `keras.Model` `(batch, height, width, channels) ->
        (batch, n_tiles * embedding_dim)`; its layer `"tile_encoder"` is
        `tile_encoder` itself (trained weights are shared, not copied).

    Raises:
        ValueError: if the tiles are larger than the image or the channels differ.

    Example:

    >>> encoder = build_tiled_encoder((28, 28, 1), build_tile_encoder(7, 1, 64))
    >>> encoder.output_shape  # 4 x 4 tiles of 7 pixels, 64 each
    (None, 1024)
    """
    height, width, channels = check_input_shape(input_shape)
    tile_size, tile_channels, _ = tile_size_of(tile_encoder)
    if tile_channels != channels:
        raise ValueError(f"`tile_encoder` takes tiles of {tile_channels} channels, the images "
                         f"have {channels}. Received: input_shape={(height, width, channels)}")
    if tile_size > min(height, width):
        raise ValueError(f"`tile_encoder` takes tiles of {tile_size} pixels, larger than the "
                         f"images. Received: input_shape={(height, width, channels)}")
    if tile_encoder.name != TILE_ENCODER:  # found again by name after loading
        tile_encoder = keras.Model(tile_encoder.inputs[0], tile_encoder.outputs[0],
                                   name=TILE_ENCODER)
    inputs = keras.Input((height, width, channels), name="images")
    codes = []
    for k, (top, left) in enumerate(covering_positions((height, width), tile_size)):
        crop = ((int(top), height - int(top) - tile_size),
                (int(left), width - int(left) - tile_size))
        tile = layers.Cropping2D(crop, name=f"tile_{k}")(inputs)
        codes.append(tile_encoder(tile))
    outputs = codes[0] if len(codes) == 1 else layers.Concatenate(name="tiles")(codes)
    return keras.Model(inputs, outputs, name=name)


def tile_encoder_of(encoder):
    """The tile encoder of an image encoder made by `build_tiled_encoder`."""
    try:
        return encoder.get_layer(TILE_ENCODER)
    except ValueError:
        raise ValueError(f"`encoder` must be an image encoder made by `build_tiled_encoder` "
                         f"(with a layer named {TILE_ENCODER!r}). Received: "
                         f"encoder={getattr(encoder, 'name', encoder)!r}") from None


__all__ = ["MIN_TILE", "build_tile_encoder", "build_tiled_encoder", "encode_tiles",
           "tile_encoder_of", "tile_size_of"]
