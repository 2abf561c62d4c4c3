"""Patch grids: where the tiles of a patch-based pretext task sit, and cutting them out.

A `PatchGrid` splits an image into `grid x grid` cells and places one square tile in
each, centred, with `gap` pixels between neighbouring tiles and a random shift of up
to `jitter` pixels per axis (0 when the grid is used to encode, not to train). Gaps
and jitter are the shortcut-avoidance tricks of Doersch et al. (2015) and Noroozi and
Favaro (2016): without them the network solves the puzzle from edges and lines that
run from one tile into the next instead of learning what the tiles show.

The grid is chosen from the image size: on 28x28 images a 3x3 grid has cells of 9
pixels, tiles of 7 and a gap of 2 (jitter 1). A grid that does not fit the image is a
`ValueError` when the grid is made, before any work.

`PatchGrid.tiles` and `extract_tiles` cut the tiles out inside the graph (one gather
per batch, `keras.ops`), so they run in a `train_step`. Used by the `relative-position`,
`jigsaw` and `counting` pretext tasks, and by the tile encoders of
`keras_unsup.builders.tiles`.

Example:

>>> grid = PatchGrid((28, 28), grid=3)
>>> grid.tile_size, grid.gap, grid.jitter
(7, 2, 1)
>>> tiles = grid.tiles(images, seed=keras.random.SeedGenerator(0))  # (batch, 9, 7, 7, c)
"""

import numpy as np

from keras_unsup.checks import check_image_size, check_int, check_positive_int


class PatchGrid:
    """A `grid x grid` layout of square tiles with gaps and jitter, fitted to an image size.

    Each of the `grid x grid` cells is `cell = min(height, width) // grid` pixels wide
    (the grid is centred in the image; leftover border pixels are never used) and holds
    one tile of `tile_size = cell - gap` pixels, centred in its cell, so centred
    neighbours are `gap` pixels apart. During training each tile moves by up to
    `jitter` pixels along each axis; `2 * jitter <= gap` keeps tiles from ever touching
    the next ones' pixels. Follows Doersch et al., "Unsupervised Visual Representation
    Learning by Context Prediction" (ICCV 2015: gaps and jitter between patches) and
    Noroozi and Favaro, "Unsupervised Learning of Visual Representations by Solving
    Jigsaw Puzzles" (ECCV 2016: 64-pixel tiles taken at random in 75-pixel cells).

    Tiles are numbered row by row: tile `k` is in row `k // grid`, column `k % grid`.

    Args:
        image_size: `(height, width)` of the images (or an image shape `(h, w, c)`).
        grid: tiles per row and per column (3 for a 3x3 grid).
        gap: pixels between centred neighbouring tiles (default: about a fifth of a
            cell, at least 1; 0 for tiles that touch, as in counting).
        jitter: most pixels a tile moves along each axis in training (default:
            `gap // 2`); at most `gap // 2`.

    Raises:
        ValueError: when an argument is invalid or the grid does not fit the image
            (cells too small for a tile of at least `min_tile` pixels).

    Example:

    >>> PatchGrid((28, 28)).tile_size
    7
    >>> PatchGrid((8, 8), grid=3)  # doctest: +SKIP
    ValueError: A 3x3 patch grid does not fit 8x8 images ...
    """

    def __init__(self, image_size, grid=3, gap=None, jitter=None, *, min_tile=1):
        if isinstance(image_size, (tuple, list)) and len(image_size) == 3:
            image_size = tuple(image_size)[:2]
        self.image_size = check_image_size(image_size, "image_size", allow_none=False)
        self.grid = check_positive_int(grid, "grid")
        min_tile = check_positive_int(min_tile, "min_tile")
        height, width = self.image_size
        self.cell = min(height, width) // self.grid
        if gap is None:
            gap = max(1, round(self.cell / 5))
        self.gap = check_int(gap, "gap", 0)
        self.tile_size = self.cell - self.gap
        if self.tile_size < min_tile:
            raise ValueError(
                f"A {self.grid}x{self.grid} patch grid does not fit {height}x{width} images: "
                f"its cells are {self.cell} pixels wide, which leaves tiles of "
                f"{self.tile_size} pixels after a gap of {self.gap}, and tiles of at least "
                f"{min_tile} pixels are needed. Use a smaller `grid` or `gap`, or larger "
                f"images. Received: image_size={self.image_size}, grid={self.grid}, "
                f"gap={self.gap}")
        if jitter is None:
            jitter = self.gap // 2
        self.jitter = check_int(jitter, "jitter", 0, self.gap // 2)
        # Top-left corner of each centred tile, row by row.
        top = (height - self.grid * self.cell) // 2 + self.gap // 2
        left = (width - self.grid * self.cell) // 2 + self.gap // 2
        self.positions = np.array(
            [[top + r * self.cell, left + c * self.cell]
             for r in range(self.grid) for c in range(self.grid)], dtype=np.int32)

    @property
    def n_tiles(self):
        """Tiles in the grid, `grid ** 2`."""
        return self.grid * self.grid

    def get_config(self):
        """The arguments that rebuild this grid: `PatchGrid(**grid.get_config())`."""
        return {"image_size": list(self.image_size), "grid": self.grid, "gap": self.gap,
                "jitter": self.jitter}

    def __repr__(self):
        return (f"PatchGrid(image_size={self.image_size}, grid={self.grid}, gap={self.gap}, "
                f"jitter={self.jitter}, tile_size={self.tile_size})")

    def random_positions(self, batch_size, seed=None):
        """Top-left corners `(batch_size, n_tiles, 2)` (int32) of jittered tiles.

        Each tile of each image moves by an integer drawn uniformly from
        `[-jitter, jitter]` along each axis, independently.

        Args:
            batch_size: images in the batch (a tensor is fine).
            seed: a `keras.random.SeedGenerator` (or an int, or `None`).
        """
        import keras
        from keras import ops

        base = ops.convert_to_tensor(self.positions, dtype="int32")[None]
        if self.jitter == 0:
            return ops.tile(base, (batch_size, 1, 1))
        shift = keras.random.randint((batch_size, self.n_tiles, 2), -self.jitter,
                                     self.jitter + 1, dtype="int32", seed=seed)
        return base + shift

    def tiles(self, images, seed=None, *, jitter=True):
        """The tiles of a batch of images, `(batch, n_tiles, tile_size, tile_size, c)`.

        Args:
            images: `(batch, height, width, channels)` of the grid's image size.
            seed: a `keras.random.SeedGenerator` for the jitter.
            jitter: move the tiles at random (training); `False` takes centred tiles.
        """
        from keras import ops

        shape = tuple(images.shape)
        if len(shape) != 4 or tuple(shape[1:3]) != self.image_size:
            raise ValueError(f"`images` must be a batch (batch, {self.image_size[0]}, "
                             f"{self.image_size[1]}, channels) for this patch grid. "
                             f"Received: images.shape={shape}")
        if jitter and self.jitter:
            positions = self.random_positions(ops.shape(images)[0], seed)
        else:
            positions = self.positions
        return extract_tiles(images, positions, self.tile_size)


def extract_tiles(images, positions, tile_size):
    """Square tiles cut out of images at given top-left corners, in the graph.

    Args:
        images: `(batch, height, width, channels)`.
        positions: int top-left corners `(n_tiles, 2)` (the same for every image) or
            `(batch, n_tiles, 2)` (per image), rows then columns; every tile must lie
            inside the image (not checked in the graph: `PatchGrid` makes sure).
        tile_size: side of the tiles in pixels.

    Returns:
        `(batch, n_tiles, tile_size, tile_size, channels)`.

    Example:

    >>> extract_tiles(x, np.array([[0, 0], [2, 3]]), 4).shape  # x: (n, 8, 8, 1)
    (n, 2, 4, 4, 1)
    """
    from keras import ops

    tile_size = check_positive_int(tile_size, "tile_size")
    _, height, width, channels = images.shape
    flat = ops.reshape(images, (-1, height * width, channels))
    offsets = ops.arange(tile_size, dtype="int32")
    positions = ops.cast(ops.convert_to_tensor(positions), "int32")
    rows = positions[..., 0:1] + offsets  # (..., n_tiles, tile)
    cols = positions[..., 1:2] + offsets
    index = rows[..., :, None] * width + cols[..., None, :]  # (..., n_tiles, tile, tile)
    n_tiles = positions.shape[-2]
    if len(positions.shape) == 2:  # one set of corners for the whole batch
        tiles = ops.take(flat, ops.reshape(index, (-1,)), axis=1)
    else:
        index = ops.reshape(index, (ops.shape(index)[0], -1, 1))
        index = ops.broadcast_to(index, (ops.shape(index)[0], ops.shape(index)[1], channels))
        tiles = ops.take_along_axis(flat, index, axis=1)
    return ops.reshape(tiles, (-1, n_tiles, tile_size, tile_size, channels))


def covering_positions(image_size, tile_size):
    """Top-left corners of tiles that cover an image: a stride of `tile_size`, the last
    row and column flush with the border (they overlap the one before when the size is
    not a multiple of `tile_size`).

    Args:
        image_size: `(height, width)`.
        tile_size: side of the tiles, at most the smaller side of the image.

    Returns:
        An int32 array `(n_tiles, 2)`, row by row.

    Example:

    >>> covering_positions((28, 28), 7).shape
    (16, 2)
    """
    height, width = check_image_size(image_size, "image_size", allow_none=False)
    tile_size = check_int(tile_size, "tile_size", 1, min(height, width))

    def starts(size):
        return sorted({*range(0, size - tile_size + 1, tile_size), size - tile_size})

    return np.array([[r, c] for r in starts(height) for c in starts(width)], dtype=np.int32)


__all__ = ["PatchGrid", "covering_positions", "extract_tiles"]
