"""Jigsaw puzzles: a pretext task of shuffled tiles (Noroozi and Favaro, 2016).

The 9 tiles of a 3x3 grid are shuffled by one permutation of a fixed set, chosen so
that the permutations are as far apart (in Hamming distance) as possible, and the
network tells which permutation it was. The tiles go through one shared tile encoder
(a "context-free network"): each tile is seen alone, and only the head sees them
together.
"""

import functools
import itertools
import math

import keras
import numpy as np
from keras import ops

from keras_unsup.builders.backbones import build_projection_head
from keras_unsup.builders.tiles import encode_tiles
from keras_unsup.checks import check_int, check_seed
from keras_unsup.models._tiles import TileModel


def maximal_hamming_permutations(n_tiles=9, size=100, seed=0):
    """A set of `size` permutations of `n_tiles` tiles, far apart in Hamming distance.

    The greedy selection of Noroozi and Favaro, "Unsupervised Learning of Visual
    Representations by Solving Jigsaw Puzzles" (ECCV 2016, Algorithm 1, "maximal"):
    start from a random permutation and add, one at a time, the permutation of all
    `n_tiles!` whose Hamming distance to the ones chosen is largest; here the smallest
    distance to the chosen ones decides (so the set's minimum distance is as large as
    the greedy rule can make it), and the mean distance breaks ties. Two puzzles of
    the set then differ in many tiles, and the task cannot be solved from one tile.

    Args:
        n_tiles: tiles of the puzzle (9 for a 3x3 grid); at most 10.
        size: permutations in the set, 2 to `n_tiles!`.
        seed: seed of the first permutation (the rest follows from it).

    Returns:
        An int32 array `(size, n_tiles)`: row `k` is permutation `k`; position `i` of a
        shuffled puzzle holds tile `row[i]`.

    Raises:
        ValueError: if `size` is not in `[2, n_tiles!]`.

    Example:

    >>> maximal_hamming_permutations(9, 100).shape
    (100, 9)
    """
    n_tiles = check_int(n_tiles, "n_tiles", 2, 10)
    size = check_int(size, "permutations", 2, math.factorial(n_tiles))
    return _permutations(n_tiles, size, check_seed(seed) or 0).copy()


@functools.lru_cache(maxsize=8)
def _permutations(n_tiles, size, seed):
    every = np.array(list(itertools.permutations(range(n_tiles))), dtype=np.int8)
    columns = np.ascontiguousarray(every.T)

    def hamming(k):  # distances of every permutation to permutation k, column by column
        same = np.zeros(len(every), np.int32)
        for i in range(n_tiles):
            same += columns[i] == columns[i, k]
        return n_tiles - same

    first = int(np.random.default_rng(seed).integers(len(every)))
    chosen = [first]
    nearest = hamming(first)  # distance to the set
    total = nearest.astype(np.int64)
    for _ in range(size - 1):
        # the farthest by the nearest chosen one; ties by the mean distance
        score = nearest.astype(np.int64) * (n_tiles * size + 1) + total
        score[chosen] = -1
        pick = int(np.argmax(score))
        chosen.append(pick)
        distance = hamming(pick)
        np.minimum(nearest, distance, out=nearest)
        total += distance
    return every[chosen].astype(np.int32)


def permute_tiles(tiles, permutations, labels):
    """Tiles (or their embeddings) shuffled by the permutations `labels` pick.

    Args:
        tiles: `(batch, n_tiles, ...)`.
        permutations: int `(n_permutations, n_tiles)`.
        labels: int `(batch,)`: the permutation of each image.

    Returns:
        `(batch, n_tiles, ...)`: position `i` of image `b` holds its tile
        `permutations[labels[b], i]`.
    """
    order = ops.take(ops.convert_to_tensor(permutations, dtype="int32"), labels, axis=0)
    index = order
    for _ in range(len(tiles.shape) - 2):
        index = ops.expand_dims(index, -1)
    return ops.take_along_axis(tiles, ops.broadcast_to(index, ops.shape(tiles)), axis=1)


@keras.saving.register_keras_serializable(package="keras_unsup")
class Jigsaw(TileModel):
    """Self-supervision by solving jigsaw puzzles of the tiles of a grid.

    Follows Noroozi and Favaro, "Unsupervised Learning of Visual Representations by
    Solving Jigsaw Puzzles" (ECCV 2016): the `grid x grid` tiles of an image are
    shuffled by a permutation drawn from a set of `permutations` chosen for maximal
    Hamming distance (`maximal_hamming_permutations`), every tile goes through one
    shared tile encoder, the embeddings are concatenated in the shuffled order and an
    MLP classifies the permutation. Their shortcut-avoidance tricks: gaps and random
    jitter between tiles (`PatchGrid`), and each tile standardised on its own (build
    the tile encoder with `normalize=True`) so that brightness and contrast do not
    give the order away. Shuffling the tiles' embeddings is the same as shuffling the
    tiles, since each tile is encoded alone, and cheaper.

    Args:
        tile_encoder: a Functional model from the grid's tiles to flat embeddings
            (`keras_unsup.builders.tiles.build_tile_encoder`).
        image_shape: `(height, width, channels)` of the images.
        grid: tiles per row and column (3: puzzles of 9 tiles).
        gap: pixels between centred tiles (default: from the image size).
        jitter: most pixels a tile moves along each axis (default: `gap // 2`).
        permutations: size of the permutation set, 2 to `(grid * grid)!`.
        hidden_dim: hidden units of the permutation head (default: the tile
            embedding size times the number of tiles).
        permutation_seed: seed of the permutation set.
        seed: seed of the jitter and of the permutations drawn in training.

    Call arguments:
        inputs: images `(batch, height, width, channels)`; returns their embeddings
            (the tile encoder on tiles covering the image, concatenated).

    Example:

    >>> grid = PatchGrid((28, 28))
    >>> tiles = build_tile_encoder(grid.tile_size, 1, normalize=True)
    >>> model = Jigsaw(tiles, (28, 28, 1), permutations=100)
    >>> model.compile(optimizer="adam")
    >>> model.fit(image_dataset(x, 128, seed=0), epochs=5)
    """

    config_fields = ("image_shape", "grid", "gap", "jitter", "permutations", "hidden_dim",
                     "permutation_seed", "seed")

    def __init__(self, tile_encoder, image_shape, grid=3, gap=None, jitter=None,
                 permutations=100, hidden_dim=None, permutation_seed=0, seed=None, **kwargs):
        kwargs.setdefault("name", "jigsaw")
        super().__init__(tile_encoder, image_shape, grid, gap, jitter, seed, **kwargs)
        n_tiles = self.patch_grid.n_tiles
        self.permutation_set = maximal_hamming_permutations(n_tiles, permutations,
                                                            permutation_seed)
        self.permutations = int(permutations)
        self.permutation_seed = int(permutation_seed)
        self.hidden_dim = hidden_dim
        width = n_tiles * self.tile_embedding_dim
        self.head = build_projection_head(width, self.permutations, hidden_dim,
                                          name="permutation_head")
        self._track_loss_and_accuracy("permutation_accuracy")
        self.built = True

    def draw_permutations(self, batch_size):
        """Random indices `(batch_size,)` into the permutation set."""
        return keras.random.randint((batch_size,), 0, self.permutations, dtype="int32",
                                    seed=self.seed_generator)

    def permutation_logits(self, tiles, labels, training=False):
        """Logits `(batch, permutations)` for the tiles `(batch, n_tiles, t, t, c)`
        shuffled by the permutations `labels` `(batch,)`."""
        codes = encode_tiles(self.tile_encoder, tiles, training=training)
        shuffled = permute_tiles(codes, self.permutation_set, labels)
        return self.head(ops.reshape(shuffled, (-1, shuffled.shape[1] * shuffled.shape[2])),
                         training=training)

    def solve(self, images, labels):
        """The permutation predicted for each image's centred tiles shuffled by `labels`.

        Returns:
            `(shuffled_tiles, predicted)`: the tiles as the model saw them `(batch,
            n_tiles, t, t, c)` (NumPy) and the predicted permutation indices.
        """
        tiles = self.training_tiles(ops.convert_to_tensor(images), training=False)
        labels = ops.convert_to_tensor(labels, dtype="int32")
        logits = self.permutation_logits(tiles, labels)
        shuffled = permute_tiles(tiles, self.permutation_set, labels)
        return (np.asarray(ops.convert_to_numpy(shuffled)),
                np.asarray(ops.convert_to_numpy(ops.argmax(logits, axis=-1))))

    def _loss(self, images, training):
        tiles = self.training_tiles(images, training)
        labels = self.draw_permutations(ops.shape(images)[0])
        logits = self.permutation_logits(tiles, labels, training)
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        hits = ops.cast(ops.cast(ops.argmax(logits, axis=-1), "int32") == labels, "float32")
        return ops.mean(losses), ops.mean(hits)
