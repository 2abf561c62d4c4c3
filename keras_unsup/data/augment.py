"""Seeded, in-graph image noise and the adapter for a user's own NumPy augmenter.

`SaltAndPepper` plays the role of imgaug's `iaa.SaltAndPepper(p)` in the classic
denoising-autoencoder tutorial (imgaug no longer imports with NumPy 2). Contrastive
view augmentations for self-supervised methods live beside it in this package.
"""

import keras
import numpy as np
from keras import ops

from keras_unsup.checks import check_bool, check_number, check_seed


@keras.saving.register_keras_serializable(package="keras_unsup")
class SaltAndPepper(keras.layers.Layer):
    """Replaces a random share of pixels with black (pepper) or white (salt).

    Each pixel position is hit with probability `amount`; a hit pixel becomes 0 or
    `max_value` with equal probability, on all channels at once (as imgaug does for
    per-pixel noise). The layer is active only in training, like `GaussianNoise`,
    unless `always=True`, which the data pipeline uses to noise inputs outside a model.

    Args:
        amount: probability in [0, 1] that a pixel is replaced.
        max_value: value of a salt pixel (1.0 for images in [0, 1]).
        seed: integer seed of the noise.
        always: apply the noise at inference too.

    Call arguments:
        inputs: images of shape `(batch, height, width, channels)`.
        training: whether the call is in training mode.

    Input shape and output shape: `(batch, height, width, channels)`, unchanged.

    Example:

    >>> noisy = SaltAndPepper(0.2, seed=1)(np.ones((2, 8, 8, 1)), training=True)
    """

    def __init__(self, amount=0.2, max_value=1.0, seed=None, always=False, **kwargs):
        super().__init__(**kwargs)
        self.amount = check_number(amount, "amount", 0, 1)
        self.max_value = check_number(max_value, "max_value", 0, low_open=True)
        self.seed = check_seed(seed)
        self.always = check_bool(always, "always")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not (training or self.always) or self.amount == 0.0:
            return inputs
        shape = ops.shape(inputs)
        pixel_shape = (shape[0], shape[1], shape[2], 1)
        u = keras.random.uniform(pixel_shape, seed=self.seed_generator)
        salt_or_pepper = keras.random.uniform(pixel_shape, seed=self.seed_generator)
        hit = ops.cast(u < self.amount, inputs.dtype)
        value = ops.cast(salt_or_pepper < 0.5, inputs.dtype) * self.max_value
        return inputs * (1.0 - hit) + value * hit

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {"amount": self.amount, "max_value": self.max_value, "seed": self.seed,
             "always": self.always}
        )
        return config


class NumpyAugmenter:
    """Adapts a user's own augmenter (any callable on a NumPy batch) to tf.data.

    The callable receives a batch of shape `(batch, height, width, channels)` and
    returns a batch of the same shape. Augmenters written for uint8 images (imgaug's,
    albumentations') are given uint8 pixels in [0, 255] with `uint8=True`; the result
    is converted back to float32 in [0, 1].

    Args:
        fn: the callable, for example `iaa.SaltAndPepper(0.2)` or `aug.augment_images`.
        uint8: pass uint8 pixels to `fn` instead of float32 in [0, 1].

    Example:

    >>> flip = NumpyAugmenter(lambda batch: batch[:, :, ::-1])
    >>> flip(np.zeros((2, 8, 8, 1), np.float32)).shape
    (2, 8, 8, 1)
    """

    def __init__(self, fn, uint8=False):
        if not callable(fn):
            raise ValueError(f"`fn` must be callable on a NumPy batch. Received: fn={fn!r}")
        self.fn = fn
        self.uint8 = check_bool(uint8, "uint8")

    def __call__(self, batch):
        batch = np.asarray(batch, dtype=np.float32)
        x = np.clip(np.rint(batch * 255.0), 0, 255).astype(np.uint8) if self.uint8 else batch
        out = np.asarray(self.fn(x))
        if out.shape != batch.shape:
            raise ValueError(
                f"The augmenter must return a batch of the shape it was given, "
                f"{batch.shape}. Received: shape {out.shape}"
            )
        if self.uint8 or out.dtype == np.uint8:
            return (out.astype(np.float32) / 255.0).astype(np.float32)
        return out.astype(np.float32)

    def tf_map(self, images):
        """The augmenter as a tf.data map function on a batch tensor."""
        import tensorflow as tf

        out = tf.numpy_function(self.__call__, [images], tf.float32)
        out.set_shape(images.shape)
        return out
