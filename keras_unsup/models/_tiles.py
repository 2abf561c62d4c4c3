"""What the patch-based pretext models share (relative position, jigsaw, counting).

A `TileModel` holds one tile encoder (the Siamese network every tile goes through),
the `PatchGrid` its training tiles come from, and the image encoder the probes score
(`build_tiled_encoder`: the tile encoder on tiles covering the image). Saving keeps the
tile encoder, the grid's arguments and the subclass's `config_fields`; loading
rebuilds the image encoder around the loaded tile encoder.
"""

import keras

from keras_unsup.builders.tiles import MIN_TILE, build_tiled_encoder, tile_size_of
from keras_unsup.checks import check_input_shape, check_seed
from keras_unsup.data.patches import PatchGrid
from keras_unsup.models._embedding import EmbeddingModel


class TileModel(EmbeddingModel):
    """An `EmbeddingModel` trained on tiles of a `PatchGrid`, scored on whole images.

    Args:
        tile_encoder: a Functional model from square tiles to flat embeddings
            (`build_tile_encoder(grid.tile_size, ...)`).
        image_shape: `(height, width, channels)` of the training images.
        grid, gap, jitter: the `PatchGrid` of the training tiles.
        seed: seed of the jitter (and of the subclass's other draws).
    """

    sub_models = ("tile_encoder",)
    config_fields = ("image_shape", "grid", "gap", "jitter", "seed")

    def __init__(self, tile_encoder, image_shape, grid=3, gap=None, jitter=None, seed=None,
                 **kwargs):
        image_shape = check_input_shape(image_shape, "image_shape")
        tile_size, channels, embedding_dim = tile_size_of(tile_encoder)
        patch_grid = PatchGrid(image_shape, grid, gap, jitter, min_tile=MIN_TILE)
        if tile_size != patch_grid.tile_size or channels != image_shape[-1]:
            raise ValueError(
                f"`tile_encoder` must take the grid's tiles, {patch_grid.tile_size}x"
                f"{patch_grid.tile_size}x{image_shape[-1]} ({patch_grid!r}). Received: a "
                f"tile encoder of {tile_size}x{tile_size}x{channels} tiles")
        self.seed = check_seed(seed)
        super().__init__(**kwargs)
        self.image_shape = list(image_shape)
        self.patch_grid = patch_grid
        self.grid, self.gap, self.jitter = patch_grid.grid, patch_grid.gap, patch_grid.jitter
        self.tile_embedding_dim = embedding_dim
        self.tile_encoder = tile_encoder
        self.encoder = build_tiled_encoder(image_shape, tile_encoder,
                                           name=f"{kwargs.get('name', 'tiled')}_encoder")
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def training_tiles(self, images, training=True):
        """The grid's tiles of `images`, jittered when `training`:
        `(batch, n_tiles, tile_size, tile_size, channels)`."""
        return self.patch_grid.tiles(images, seed=self.seed_generator, jitter=training)

    @staticmethod
    def _images(data):
        return data[0] if isinstance(data, (tuple, list)) else data

    def train_step(self, data):
        return self._gradient_step(lambda: self._loss(self._images(data), training=True),
                                   self.trainable_weights)

    def test_step(self, data):
        return self._update_metrics(*self._loss(self._images(data), training=False))
