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


class AugmentedImages:
    """Images seen through a random augmentation: the stream an autoencoder trains on.

    DEC-DA (Guo, Zhu, Liu and Yin, 2018, "Deep Embedded Clustering with Data
    Augmentation") pretrains its autoencoder on randomly shifted and rotated images,
    each reconstructing itself: every pass over the data draws new transforms. This
    wraps images (an array, or a streamed dataset) and a Keras augmentation layer
    (e.g. `RandomAffine(rotation=10, translation=0.1, seed=0)`) behind the stream
    interface of a streamed dataset (`is_streaming`, `image_shape`, `split_size`,
    `stream`), so any trainer that reads a stream trains on the augmented images:
    `stream(..., map_fn=lambda b: (b, b))` yields `(augmented, augmented)` pairs.

    The layer runs on one batch at a time, in order, so a seeded layer gives the same
    transforms on every run of the same epochs from the start. (A run resumed from a
    checkpoint goes on with freshly drawn transforms: the layer's random state is not
    part of the checkpoint.)

    Args:
        images: `(n, height, width, channels)` images in [0, 1], or a streamed dataset
            (`FolderDataset`).
        augmentation: a Keras layer, called with `training=True` on each batch.

    Example:

    >>> from keras_unsup.data.views import RandomAffine
    >>> augmented = AugmentedImages(x, RandomAffine(rotation=10, translation=0.1, seed=0))
    >>> ds = augmented.stream("all", 256, shuffle=True, seed=0, map_fn=lambda b: (b, b))
    """

    is_streaming = True

    def __init__(self, images, augmentation):
        if not isinstance(augmentation, keras.layers.Layer):
            raise ValueError(  # noqa: TRY004 (the project reports bad arguments as ValueError)
                f"`augmentation` must be a Keras layer. Received: augmentation={augmentation!r}")
        self.augmentation = augmentation
        if getattr(images, "is_streaming", False):
            self.data, self.images = images, None
        else:
            from keras_unsup.checks import check_image_array

            self.data, self.images = None, check_image_array(images, "images")

    @property
    def name(self):
        return getattr(self.data, "name", "images")

    @property
    def image_shape(self):
        """Shape of one image, `(height, width, channels)`."""
        if self.data is not None:
            return tuple(self.data.image_shape)
        return tuple(self.images.shape[1:])

    def split_size(self, split="all"):
        """Images in `split` (an array is one split: every name gives all of it)."""
        return int(self.data.split_size(split)) if self.data is not None else len(self.images)

    def stream(self, split="all", batch_size=256, *, shuffle=False, seed=None, map_fn=None,
               drop_remainder=False):
        """Batches of augmented images (then passed through `map_fn`), a `tf.data.Dataset`."""
        from keras_unsup.data.pipeline import image_dataset

        def augment(batch):
            out = self.augmentation(batch, training=True)
            return out if map_fn is None else map_fn(out)

        if self.data is not None:
            ds = self.data.stream(split, batch_size, shuffle=shuffle, seed=seed,
                                  drop_remainder=drop_remainder)
            return ds.map(augment)
        return image_dataset(self.images, batch_size, shuffle=shuffle, seed=seed,
                             drop_remainder=drop_remainder, map_fn=augment,
                             parallel_map=False)
