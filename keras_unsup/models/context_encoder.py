"""Context encoders: in-painting as a pretext task (Pathak et al., 2016).

A square region of each image is blanked out (filled with the batch's mean value) and
an encoder-decoder fills it in from the context around it. The encoder, which never
sees the region, has to understand the rest of the image to guess it; it is the
encoder the probes score (on whole images).
"""

import keras
from keras import ops

from keras_unsup.builders.backbones import embedding_dim_of
from keras_unsup.builders.gan import build_dcgan_discriminator
from keras_unsup.checks import check_choice, check_int, check_number, check_seed
from keras_unsup.models._embedding import EmbeddingModel
from keras_unsup.models._training import descend

MASKS = ("random", "center")


def square_masks(batch_size, image_size, mask_size, tops, lefts):
    """Masks `(batch, height, width, 1)`: 1 inside each image's square region, else 0.

    Args:
        batch_size: images in the batch.
        image_size: `(height, width)`.
        mask_size: side of the square in pixels.
        tops, lefts: int `(batch,)` top-left corners of the squares.
    """
    height, width = image_size
    rows = ops.arange(height, dtype="int32")[None, :]
    cols = ops.arange(width, dtype="int32")[None, :]
    tops = ops.reshape(ops.cast(tops, "int32"), (-1, 1))
    lefts = ops.reshape(ops.cast(lefts, "int32"), (-1, 1))
    in_rows = ops.logical_and(rows >= tops, rows < tops + mask_size)  # (batch, height)
    in_cols = ops.logical_and(cols >= lefts, cols < lefts + mask_size)
    inside = ops.logical_and(in_rows[:, :, None], in_cols[:, None, :])
    return ops.cast(inside, "float32")[..., None]


@keras.saving.register_keras_serializable(package="keras_unsup")
class ContextEncoder(EmbeddingModel):
    """Self-supervision by in-painting a masked square region of each image.

    Follows Pathak, Krähenbühl, Donahue, Darrell and Efros, "Context Encoders: Feature
    Learning by Inpainting" (CVPR 2016): the encoder sees the image with a region
    filled with the mean value, the decoder reconstructs the image, and the loss is
    the squared error on the region alone (`masked_mse`). Regions are the centre
    square or, the paper's better variant for features, a square at a random place
    per image (`mask="random"`), so the encoder does not learn that one place is
    always empty. With `adversarial_weight > 0` the joint loss of the paper is used:
    `(1 - w) * masked_mse + w * adversarial`, where a discriminator tells real images
    from images whose region was filled in (the paper takes w = 0.001); the
    discriminator has its own optimizer (`compile(d_optimizer=...)`).

    Args:
        encoder: a Functional backbone from images to flat embeddings (the probed one).
        decoder: a Functional model from the embeddings to images of the same shape
            (e.g. the decoder of `build_conv_denoising_autoencoder`).
        mask_size: side of the masked square (default: half the smaller image side,
            as the paper's 64 of 128).
        mask: `"random"` (a square anywhere in the image) or `"center"`.
        adversarial_weight: weight `w` of the adversarial term, in [0, 1).
        discriminator: images to one logit (default with `adversarial_weight > 0`:
            `build_dcgan_discriminator(image_shape, filters=32)`).
        seed: seed of the mask positions.

    Call arguments:
        inputs: images `(batch, height, width, channels)`; returns their embeddings.

    Example:

    >>> _, _, decoder = build_conv_denoising_autoencoder((28, 28, 1), code_size=128)
    >>> model = ContextEncoder(build_small_convnet((28, 28, 1)), decoder)
    >>> model.compile(optimizer="adam")
    >>> model.fit(image_dataset(x, 128, seed=0), epochs=5)
    """

    sub_models = ("encoder", "decoder", "discriminator")
    config_fields = ("mask_size", "mask", "adversarial_weight", "seed")

    def __init__(self, encoder, decoder, mask_size=None, mask="random", adversarial_weight=0.0,
                 discriminator=None, seed=None, **kwargs):
        embedding_dim = embedding_dim_of(encoder)
        image_shape = tuple(encoder.inputs[0].shape[1:])
        if len(image_shape) != 3 or None in image_shape:
            raise ValueError("`encoder` must take images of a fixed shape (height, width, "
                             f"channels). Received: input shape {image_shape}")
        if (tuple(decoder.inputs[0].shape[1:]) != (embedding_dim,)
                or tuple(decoder.outputs[0].shape[1:]) != image_shape):
            raise ValueError(
                f"`decoder` must map the encoder's {embedding_dim}-d embeddings to images of "
                f"shape {image_shape}. Received: decoder from {tuple(decoder.inputs[0].shape)} "
                f"to {tuple(decoder.outputs[0].shape)}")
        side = min(image_shape[:2])
        mask_size = side // 2 if mask_size is None else mask_size
        self.mask_size = check_int(mask_size, "mask_size", 1, side - 1)
        self.mask = check_choice(mask, "mask", MASKS)
        self.adversarial_weight = check_number(adversarial_weight, "adversarial_weight", 0.0,
                                               1.0, high_open=True)
        self.seed = check_seed(seed)
        kwargs.setdefault("name", "context_encoder")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = image_shape
        if self.adversarial_weight > 0 and discriminator is None:
            discriminator = build_dcgan_discriminator(image_shape, filters=32)
        self.discriminator = discriminator if self.adversarial_weight > 0 else None
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self._track_loss_and_accuracy("masked_mse")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.d_optimizer = None
        self.built = True

    @property
    def metrics(self):
        extra = [self.d_loss_tracker] if self.discriminator is not None else []
        return [self.loss_tracker, self.accuracy_tracker, *extra]

    def compile(self, optimizer="adam", d_optimizer=None, **kwargs):
        """`keras.Model.compile`, and the discriminator's optimizer when there is one
        (`None`: a copy of `optimizer`'s settings)."""
        super().compile(optimizer=optimizer, **kwargs)
        self._compile_kwargs = dict(kwargs)
        if self.discriminator is not None:
            if d_optimizer is None:
                d_optimizer = self.optimizer.__class__.from_config(self.optimizer.get_config())
            self.d_optimizer = keras.optimizers.get(d_optimizer)
            # Built now, so that BackupAndRestore and load_model restore its state.
            self.d_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self):
        if getattr(self, "optimizer", None) is None:
            return None
        config = {"optimizer": keras.saving.serialize_keras_object(self.optimizer),
                  **getattr(self, "_compile_kwargs", {})}
        if self.d_optimizer is not None:
            config["d_optimizer"] = keras.saving.serialize_keras_object(self.d_optimizer)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("optimizer", "d_optimizer"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)
        # the optimizer's saved variables load into a built optimizer
        self.optimizer.build(self.encoder.trainable_variables + self.decoder.trainable_variables)

    def masks(self, batch_size, training=True):
        """Region masks `(batch, height, width, 1)`: random squares (`mask="random"`, in
        training) or the centre square."""
        height, width = self.image_shape[:2]
        size = self.mask_size
        if self.mask == "random" and training:
            tops = keras.random.randint((batch_size,), 0, height - size + 1, dtype="int32",
                                        seed=self.seed_generator)
            lefts = keras.random.randint((batch_size,), 0, width - size + 1, dtype="int32",
                                         seed=self.seed_generator)
        else:
            tops = ops.full((batch_size,), (height - size) // 2, dtype="int32")
            lefts = ops.full((batch_size,), (width - size) // 2, dtype="int32")
        return square_masks(batch_size, (height, width), size, tops, lefts)

    def inpaint(self, images, masks=None, training=False):
        """`(masked, filled, reconstruction)` for `images` and region `masks` (default:
        the centre square): the encoder's input, the image with the region filled in
        by the decoder, and the decoder's whole output."""
        images = ops.convert_to_tensor(images)
        if masks is None:
            masks = self.masks(ops.shape(images)[0], training=False)
        fill = ops.mean(images, axis=(0, 1, 2), keepdims=True)  # Pathak: the mean value
        masked = images * (1.0 - masks) + fill * masks
        reconstruction = self.decoder(self.encoder(masked, training=training),
                                      training=training)
        filled = images * (1.0 - masks) + reconstruction * masks
        return masked, filled, reconstruction

    def _masked_mse(self, images, reconstruction, masks):
        channels = images.shape[-1]
        return ops.sum(masks * ops.square(reconstruction - images)) / (
            ops.sum(masks) * channels)

    def _loss(self, images, training):
        masks = self.masks(ops.shape(images)[0], training=training)
        _, filled, reconstruction = self.inpaint(images, masks, training=training)
        mse = self._masked_mse(images, reconstruction, masks)
        if self.discriminator is None:
            return mse, mse
        fake_logits = self.discriminator(filled, training=training)
        adversarial = ops.mean(ops.softplus(-fake_logits))  # non-saturating
        w = self.adversarial_weight
        return (1.0 - w) * mse + w * adversarial, mse

    def _discriminator_loss(self, images):
        masks = self.masks(ops.shape(images)[0], training=True)
        _, filled, _ = self.inpaint(images, masks, training=True)
        filled = ops.stop_gradient(filled)
        real = self.discriminator(images, training=True)
        fake = self.discriminator(filled, training=True)
        return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))

    def train_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        if self.discriminator is not None:
            d_loss = descend(self.d_optimizer, self.discriminator.trainable_variables,
                             lambda: self._discriminator_loss(images))
            self.d_loss_tracker.update_state(d_loss)
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        return self._gradient_step(lambda: self._loss(images, training=True), variables)

    def test_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        return self._update_metrics(*self._loss(images, training=False))
