"""Split-brain autoencoders: cross-channel prediction (Zhang, Isola and Efros, 2017).

"Split-Brain Autoencoders: Unsupervised Learning by Cross-Channel Prediction": the
network is split in two halves that see disjoint channels of a Lab image. One half
sees the lightness L and predicts the colours ab; the other sees ab and predicts L.
Neither half sees what it predicts, so neither can copy it (the shortcut of an
ordinary autoencoder); each must infer it from the other channels. The feature is
the two halves' embeddings side by side. As in the paper both predictions are
classifications over quantised values (ab bins; L in `l_bins` bins), which they
found better than regression.
"""

import keras
from keras import ops

from keras_unsup.builders.backbones import embedding_dim_of
from keras_unsup.checks import check_int, check_positive_int
from keras_unsup.data.colour import AB_RANGE, ab_bin_centres, soft_encode_ab
from keras_unsup.models._embedding import EmbeddingModel
from keras_unsup.models.colorization import (
    bin_hits,
    check_colour_batch,
    downsample,
    encoder_input_shape,
    lab_channels,
    pixel_head,
    pixel_logits,
    soft_cross_entropy,
)


@keras.saving.register_keras_serializable(package="keras_unsup")
class SplitBrain(EmbeddingModel):
    """Two half-networks, L -> ab and ab -> L, whose embeddings are joined.

    `l_encoder` sees `L / 100`; its head classifies the ab bins of every cell of a
    grid `output_stride` times coarser than the image (soft targets, as in
    `Colorization`). `ab_encoder` sees `ab / 110`; its head classifies the cells' mean
    L into `l_bins` equal bins of [0, 100]. The loss is the sum of the two
    cross-entropies.

    Call it on sRGB images `(batch, height, width, 3)` in [0, 1]: it returns the
    concatenated embeddings `(batch, l_dim + ab_dim)`.

    Args:
        l_encoder: a Functional backbone from `(height, width, 1)` images to flat
            embeddings.
        ab_encoder: a Functional backbone from `(height, width, 2)` images (same size)
            to flat embeddings.
        grid_size: side of an ab bin (10: 264 bins).
        l_bins: bins of the lightness (Zhang et al.: 100), >= 2.
        output_stride: how much coarser the grid of predictions is than the image.
        hidden_dim: hidden units of both heads (default: each embedding's size).

    Example:

    >>> model = SplitBrain(build_small_convnet((32, 32, 1), 64),
    ...                    build_small_convnet((32, 32, 2), 64))
    >>> model.compile(optimizer="adam")
    >>> model.fit(image_dataset(x_train, 128, seed=0), epochs=5)
    """

    sub_models = ("l_encoder", "ab_encoder")
    config_fields = ("grid_size", "l_bins", "output_stride", "hidden_dim")

    def __init__(self, l_encoder, ab_encoder, grid_size=10, l_bins=100, output_stride=4,
                 hidden_dim=None, **kwargs):
        l_dim = embedding_dim_of(l_encoder, "l_encoder")
        ab_dim = embedding_dim_of(ab_encoder, "ab_encoder")
        size = encoder_input_shape(l_encoder, 1, "l_encoder")
        if encoder_input_shape(ab_encoder, 2, "ab_encoder") != size:
            raise ValueError("`l_encoder` and `ab_encoder` must take images of one size. "
                             f"Received: {size} and "
                             f"{encoder_input_shape(ab_encoder, 2, 'ab_encoder')}")
        output_stride = check_int(output_stride, "output_stride", 1, min(size))
        grid_size = check_int(grid_size, "grid_size", 1, int(AB_RANGE))
        l_bins = check_int(l_bins, "l_bins", 2)
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim", allow_none=True)
        kwargs.setdefault("name", "split_brain")
        super().__init__(**kwargs)
        self.l_encoder, self.ab_encoder = l_encoder, ab_encoder
        self.grid_size, self.l_bins = grid_size, l_bins
        self.output_stride, self.hidden_dim = output_stride, hidden_dim
        self.image_size = size
        self.grid = (size[0] // output_stride, size[1] // output_stride)
        self.bin_centres = ab_bin_centres(grid_size)
        self.n_bins = len(self.bin_centres)
        self.ab_head = pixel_head(l_dim, self.grid, self.n_bins, hidden_dim, "ab_head")
        self.l_head = pixel_head(ab_dim, self.grid, l_bins, hidden_dim, "l_head")
        self._track_loss_and_accuracy("bin_accuracy")
        self.built = True

    def halves(self, images, training=False):
        """The two embeddings `(l_embedding, ab_embedding)` of sRGB images."""
        check_colour_batch(images, "SplitBrain")
        lightness, colour = lab_channels(images)
        return (self.l_encoder(lightness, training=training),
                self.ab_encoder(colour, training=training))

    def call(self, inputs, training=False):
        return ops.concatenate(self.halves(inputs, training), axis=-1)

    def _loss(self, data, training):
        images = data[0] if isinstance(data, (tuple, list)) else data
        l_embedding, ab_embedding = self.halves(images, training)
        lightness, colour = lab_channels(images)
        ab_targets = soft_encode_ab(downsample(colour, self.output_stride) * AB_RANGE,
                                    self.bin_centres)
        l_index = ops.clip(ops.floor(downsample(lightness, self.output_stride)[..., 0]
                                     * self.l_bins), 0, self.l_bins - 1)
        l_targets = ops.one_hot(ops.cast(l_index, "int32"), self.l_bins)
        ab_logits = pixel_logits(self.ab_head, l_embedding, self.grid, self.n_bins, training)
        l_logits = pixel_logits(self.l_head, ab_embedding, self.grid, self.l_bins, training)
        loss = (ops.mean(soft_cross_entropy(ab_targets, ab_logits))
                + ops.mean(soft_cross_entropy(l_targets, l_logits)))
        accuracy = 0.5 * (ops.mean(bin_hits(ab_targets, ab_logits))
                          + ops.mean(bin_hits(l_targets, l_logits)))
        return loss, accuracy

    def train_step(self, data):
        return self._gradient_step(lambda: self._loss(data, training=True),
                                   self.trainable_weights)

    def test_step(self, data):
        return self._update_metrics(*self._loss(data, training=False))


__all__ = ["SplitBrain"]
