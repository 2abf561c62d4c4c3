"""Colorization as a pretext task (Zhang, Isola and Efros, 2016).

"Colorful Image Colorization": the network sees the lightness `L` of a colour image
and predicts its colours `ab`, in CIE Lab space. The ab plane is quantised into `Q`
bins and the colours are classified, not regressed: a regression to the mean of
plausible colours gives greyish pictures. The loss is a multinomial cross-entropy
against soft targets (each true ab spread over its 5 nearest bins), reweighted per
pixel by the rarity of its colour (class rebalancing), so that saturated colours,
rare in natural images, count. Predictions are decoded by the annealed mean.

To learn colours the network must recognise what it sees (grass is green, sky is
blue), which is what the probes then read from its embedding.
"""

import keras
from keras import ops

from keras_unsup.builders.backbones import build_projection_head, embedding_dim_of
from keras_unsup.checks import (
    check_colour_images,
    check_image_array,
    check_int,
    check_number,
    check_positive_int,
)
from keras_unsup.data.colour import (
    AB_RANGE,
    ab_bin_centres,
    ab_histogram,
    annealed_mean,
    lab_to_rgb,
    rebalancing_weights,
    rgb_to_lab,
    soft_encode_ab,
)
from keras_unsup.models._embedding import EmbeddingModel


def lab_channels(images):
    """`(lightness, colour)` network inputs of sRGB images: `L / 100` `(..., 1)` in [0, 1]
    and `ab / 110` `(..., 2)` in about [-1, 1]."""
    lab = rgb_to_lab(images)
    return lab[..., :1] / 100.0, lab[..., 1:] / AB_RANGE


def encoder_input_shape(encoder, channels, name):
    """The `(height, width)` of `encoder`'s images, which must have `channels` channels."""
    shape = tuple(encoder.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != channels or None in shape[1:3]:
        raise ValueError(f"`{name}` must take images of shape (batch, height, width, {channels}). "
                         f"Received: input shape {shape}")
    return int(shape[1]), int(shape[2])


def downsample(x, stride):
    """Average of each `stride` x `stride` block of `(batch, h, w, c)` maps."""
    if stride == 1:
        return x
    return ops.average_pool(x, stride, strides=stride, padding="valid")


def pixel_head(embedding_dim, grid, n_bins, hidden_dim, name):
    """The head from an embedding to the logits of `n_bins` classes at every cell of a
    `grid` `(rows, cols)`: an MLP with `rows * cols * n_bins` outputs."""
    return build_projection_head(embedding_dim, grid[0] * grid[1] * n_bins, hidden_dim,
                                 name=name)


def pixel_logits(head, embeddings, grid, n_bins, training):
    """The head's logits as maps `(batch, rows, cols, n_bins)`."""
    return ops.reshape(head(embeddings, training=training), (-1, grid[0], grid[1], n_bins))


def soft_cross_entropy(targets, logits):
    """Per-cell cross-entropy `(...,)` of logits against target distributions."""
    return -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)


def bin_hits(targets, logits):
    """1 where the most likely bin is the target's, else 0 (float32, `(...,)`)."""
    return ops.cast(ops.argmax(logits, axis=-1) == ops.argmax(targets, axis=-1), "float32")


def check_colour_batch(images, model_name):
    """Refuses a batch that is not of RGB images (a static check, before any work)."""
    if images.shape[-1] != 3:
        check_colour_images(tuple(images.shape[1:]), f"{model_name}'s images")


@keras.saving.register_keras_serializable(package="keras_unsup")
class Colorization(EmbeddingModel):
    """Predicts the quantised ab colours of an image from its lightness L.

    The encoder sees `L / 100` (one channel); an MLP head on its embedding gives, at
    every cell of a grid `output_stride` times coarser than the image (Zhang et al.
    predict at a quarter of the resolution), the logits of the `Q` ab bins. The
    targets are the soft-encoded mean ab of each cell, and each cell's loss is
    weighted by the class-rebalancing weight of its most likely bin.

    Call it on sRGB images `(batch, height, width, 3)` in [0, 1]: it returns the
    embedding of their lightness. `colourise(images)` returns colourised images.

    Args:
        encoder: a Functional backbone from `(height, width, 1)` lightness images to
            flat embeddings.
        grid_size: side of an ab bin (Zhang et al.: 10, giving 264 in-gamut bins here).
        output_stride: the grid of predictions is `output_stride` times coarser than
            the image.
        rebalancing: `lambda` of the class-rebalancing weights (0: none, Zhang: 0.5);
            the weights come from `set_class_weights(images)` (the training images'
            ab distribution) and are 1 until it is called.
        hidden_dim: hidden units of the head (default: the embedding size).

    Example:

    >>> model = Colorization(build_small_convnet((32, 32, 1)))
    >>> model.set_class_weights(x_train)
    >>> model.compile(optimizer="adam")
    >>> model.fit(image_dataset(x_train, 128, seed=0), epochs=5)
    >>> colours = model.colourise(x_test[:8])
    """

    config_fields = ("grid_size", "output_stride", "rebalancing", "hidden_dim")

    def __init__(self, encoder, grid_size=10, output_stride=4, rebalancing=0.5, hidden_dim=None,
                 **kwargs):
        embedding_dim = embedding_dim_of(encoder)
        height, width = encoder_input_shape(encoder, 1, "encoder")
        output_stride = check_int(output_stride, "output_stride", 1, min(height, width))
        grid_size = check_int(grid_size, "grid_size", 1, int(AB_RANGE))
        rebalancing = check_number(rebalancing, "rebalancing", 0.0, 1.0)
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim", allow_none=True)
        kwargs.setdefault("name", "colorization")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.output_stride, self.grid_size = output_stride, grid_size
        self.rebalancing, self.hidden_dim = rebalancing, hidden_dim
        self.image_size = (height, width)
        self.grid = (height // self.output_stride, width // self.output_stride)
        self.bin_centres = ab_bin_centres(self.grid_size)
        self.n_bins = len(self.bin_centres)
        self.head = pixel_head(embedding_dim, self.grid, self.n_bins, hidden_dim, "colour_head")
        self.class_weights = self.add_weight(shape=(self.n_bins,), name="class_weights",
                                             trainable=False, initializer="ones")
        self._track_loss_and_accuracy("bin_accuracy")
        self.built = True

    def set_class_weights(self, images):
        """Sets the rebalancing weights from the ab distribution of sRGB `images`
        (Zhang et al.'s eq. 4); returns them."""
        images = check_image_array(images, "images", (*self.image_size, 3))
        weights = rebalancing_weights(ab_histogram(images, self.bin_centres), self.bin_centres,
                                      self.rebalancing)
        self.class_weights.assign(weights)
        return weights

    def call(self, inputs, training=False):
        check_colour_batch(inputs, "Colorization")
        return self.encoder(lab_channels(inputs)[0], training=training)

    def colour_logits(self, images, training=False):
        """Logits `(batch, rows, cols, Q)` of the ab bins of sRGB images' lightness."""
        embeddings = self(images, training=training)
        return pixel_logits(self.head, embeddings, self.grid, self.n_bins, training)

    def colourise(self, images, temperature=0.38):
        """sRGB images coloured by the model: their own L, the predicted ab (annealed
        mean at `temperature`, upsampled bilinearly to the image's size)."""
        probabilities = ops.softmax(self.colour_logits(images), axis=-1)
        ab = annealed_mean(probabilities, self.bin_centres, temperature)
        ab = ops.image.resize(ab, self.image_size, interpolation="bilinear")
        lightness = rgb_to_lab(images)[..., :1]
        return lab_to_rgb(ops.concatenate([lightness, ab], axis=-1))

    def _loss(self, data, training):
        images = data[0] if isinstance(data, (tuple, list)) else data
        check_colour_batch(images, "Colorization")
        ab = downsample(rgb_to_lab(images)[..., 1:], self.output_stride)
        targets = soft_encode_ab(ab, self.bin_centres)
        logits = self.colour_logits(images, training=training)
        weights = ops.take(ops.convert_to_tensor(self.class_weights),
                           ops.argmax(targets, axis=-1), axis=0)
        loss = ops.mean(weights * soft_cross_entropy(targets, logits))
        return loss, ops.mean(bin_hits(targets, logits))

    def train_step(self, data):
        return self._gradient_step(lambda: self._loss(data, training=True),
                                   self.trainable_weights)

    def test_step(self, data):
        return self._update_metrics(*self._loss(data, training=False))


__all__ = ["Colorization", "bin_hits", "downsample", "encoder_input_shape", "lab_channels",
           "pixel_head", "pixel_logits", "soft_cross_entropy"]
