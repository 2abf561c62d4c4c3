"""Relative position of patches: a context-prediction pretext task (Doersch et al., 2015).

Given the centre tile of a 3x3 grid and one of its 8 neighbours, the network says
where the neighbour sits (up-left, up, up-right, left, right, down-left, down,
down-right). To do so it has to recognise object parts; the gaps and the jitter of
the `PatchGrid` keep it from matching edges that continue across the tiles.
"""

import keras
from keras import ops

from keras_unsup.builders.backbones import build_projection_head
from keras_unsup.builders.tiles import encode_tiles
from keras_unsup.models._tiles import TileModel

CENTRE = 4  # the centre tile of a 3x3 grid, numbered row by row
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)  # class k: the neighbour tile NEIGHBOURS[k]


@keras.saving.register_keras_serializable(package="keras_unsup")
class RelativePosition(TileModel):
    """Self-supervision by predicting the position of a patch relative to the centre one.

    Follows Doersch, Gupta and Efros, "Unsupervised Visual Representation Learning by
    Context Prediction" (ICCV 2015): a pair of patches from a 3x3 grid goes through one
    shared (Siamese) tile encoder, the two embeddings are concatenated and a small MLP
    classifies which of the 8 positions the second patch holds. Against shortcuts the
    patches are cut with gaps between them and jittered by up to `jitter` pixels
    (`keras_unsup.data.patches.PatchGrid`); the paper's further trick against
    chromatic aberration (dropping colour channels) is left to colour data. Every image
    gives all 8 pairs (centre, neighbour) at once: the 9 tiles are encoded once.

    Args:
        tile_encoder: a Functional model from the grid's tiles to flat embeddings
            (`keras_unsup.builders.tiles.build_tile_encoder`).
        image_shape: `(height, width, channels)` of the images.
        gap: pixels between centred tiles (default: from the image size).
        jitter: most pixels a tile moves along each axis (default: `gap // 2`).
        hidden_dim: hidden units of the position head (default: twice the tile
            embedding size).
        seed: seed of the jitter.

    Call arguments:
        inputs: images `(batch, height, width, channels)`; returns their embeddings
            (the tile encoder on tiles covering the image, concatenated).

    Example:

    >>> grid = PatchGrid((28, 28))
    >>> model = RelativePosition(build_tile_encoder(grid.tile_size, 1), (28, 28, 1))
    >>> model.compile(optimizer="adam")
    >>> model.fit(image_dataset(x, 128, seed=0), epochs=5)
    """

    config_fields = ("image_shape", "gap", "jitter", "hidden_dim", "seed")

    def __init__(self, tile_encoder, image_shape, gap=None, jitter=None, hidden_dim=None,
                 seed=None, **kwargs):
        kwargs.pop("grid", None)
        kwargs.setdefault("name", "relative_position")
        super().__init__(tile_encoder, image_shape, 3, gap, jitter, seed, **kwargs)
        self.hidden_dim = hidden_dim
        self.head = build_projection_head(2 * self.tile_embedding_dim, len(NEIGHBOURS),
                                          hidden_dim or 2 * self.tile_embedding_dim,
                                          name="position_head")
        self._track_loss_and_accuracy("position_accuracy")
        self.built = True

    def pair_logits(self, tiles, training=False):
        """Position logits `(batch, 8, 8)` of each neighbour of each image's centre tile.

        Args:
            tiles: the grid's tiles `(batch, 9, t, t, c)`.
        """
        codes = encode_tiles(self.tile_encoder, tiles, training=training)  # (batch, 9, d)
        centre = ops.repeat(codes[:, CENTRE:CENTRE + 1], len(NEIGHBOURS), axis=1)
        neighbours = ops.take(codes, ops.array(NEIGHBOURS, dtype="int32"), axis=1)
        pairs = ops.concatenate([centre, neighbours], axis=-1)
        logits = self.head(ops.reshape(pairs, (-1, pairs.shape[-1])), training=training)
        return ops.reshape(logits, (-1, len(NEIGHBOURS), len(NEIGHBOURS)))

    def _loss(self, images, training):
        logits = self.pair_logits(self.training_tiles(images, training), training)
        labels = ops.broadcast_to(ops.arange(len(NEIGHBOURS), dtype="int32")[None],
                                  ops.shape(logits)[:2])
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        hits = ops.cast(ops.cast(ops.argmax(logits, axis=-1), "int32") == labels, "float32")
        return ops.mean(losses), ops.mean(hits)
