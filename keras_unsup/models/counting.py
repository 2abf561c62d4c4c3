"""Counting visual primitives: a pretext task of additive features (Noroozi et al., 2017).

The features of an image, seen whole at half resolution, must equal the sum of the
features of its four tiles (each seen at full resolution): the features count
something that the tiles split between them. A contrastive term against another
image keeps the trivial answer (all features zero) away.
"""

import keras
from keras import ops

from keras_unsup.builders.tiles import encode_tiles
from keras_unsup.checks import check_number
from keras_unsup.models._tiles import TileModel

# Noroozi et al. draw the downsampling method at random, so that the network cannot
# tell a downsampled image from a tile by its filtering.
DOWNSAMPLERS = (("bilinear", True), ("bicubic", True), ("area", False))


@keras.saving.register_keras_serializable(package="keras_unsup")
class Counting(TileModel):
    """Self-supervision by counting: the image's features are the sum of its tiles'.

    Follows Noroozi, Pirsiavash and Favaro, "Representation Learning by Learning to
    Count" (ICCV 2017). With `c = relu(tile_encoder(.))` (counts are not negative),
    `D` a 2x downsampling to the tile size and `T_1..T_4` the tiles of a 2x2 grid:

        loss = |c(D x) - sum_j c(T_j x)|^2 + max(0, margin - |c(D y) - sum_j c(T_j x)|^2)

    where `y` is another image of the batch (the next one). The second, contrastive
    term is what keeps the features from vanishing. The downsampling method is drawn
    at random per batch (bilinear, bicubic, area), the paper's trick against telling
    the downsampled image from the tiles by its blur. The reported accuracy is the
    share of images whose own downsampled counts are closer to their tiles' sum than
    the other image's.

    Args:
        tile_encoder: a Functional model from the tiles (half the image side) to flat
            embeddings (`keras_unsup.builders.tiles.build_tile_encoder`).
        image_shape: `(height, width, channels)` of the images.
        margin: margin of the contrastive term (> 0), in squared count units.
        seed: seed of the downsampling draw.

    Call arguments:
        inputs: images `(batch, height, width, channels)`; returns their embeddings
            (the tile encoder on the 2x2 tiles, concatenated).

    Example:

    >>> model = Counting(build_tile_encoder(14, 1), (28, 28, 1))
    >>> model.compile(optimizer="adam")
    >>> model.fit(image_dataset(x, 128, seed=0), epochs=5)
    """

    config_fields = ("image_shape", "margin", "seed")

    def __init__(self, tile_encoder, image_shape, margin=10.0, seed=None, **kwargs):
        for key in ("grid", "gap", "jitter"):
            kwargs.pop(key, None)
        kwargs.setdefault("name", "counting")
        super().__init__(tile_encoder, image_shape, 2, 0, 0, seed, **kwargs)
        self.margin = check_number(margin, "margin", 0.0, low_open=True)
        self._track_loss_and_accuracy("counting_accuracy")
        self.built = True

    def counts(self, images, training=False):
        """`relu` of the tile encoder: counts `(batch, d)` of images at the tile size."""
        return ops.relu(self.tile_encoder(images, training=training))

    def downsample(self, images, method=None):
        """Images resized to the tile size; `method` indexes `DOWNSAMPLERS`, `None`
        draws one at random (training)."""
        size = (self.patch_grid.tile_size, self.patch_grid.tile_size)
        resized = [ops.image.resize(images, size, interpolation=name, antialias=antialias)
                   for name, antialias in DOWNSAMPLERS]
        if method is not None:
            return resized[method]
        pick = keras.random.randint((), 0, len(DOWNSAMPLERS), seed=self.seed_generator)
        weights = ops.one_hot(pick, len(DOWNSAMPLERS))
        return sum(weights[k] * resized[k] for k in range(len(DOWNSAMPLERS)))

    def distances(self, images, training=False):
        """`(own, other)`: squared distances `(batch,)` of each image's tile-count sum to
        its own downsampled counts and to the next image's."""
        tile_sum = ops.sum(ops.relu(encode_tiles(
            self.tile_encoder, self.training_tiles(images, False), training=training)), axis=1)
        whole = self.counts(self.downsample(images, None if training else 0), training)
        other = ops.roll(whole, 1, axis=0)
        return (ops.sum(ops.square(whole - tile_sum), axis=-1),
                ops.sum(ops.square(other - tile_sum), axis=-1))

    def _loss(self, images, training):
        own, other = self.distances(images, training)
        loss = ops.mean(own + ops.relu(self.margin - other))
        return loss, ops.mean(ops.cast(own < other, "float32"))
