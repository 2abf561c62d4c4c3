"""Seeded, in-graph augmentation for contrastive views, and a two-view tf.data helper.

Contrastive methods (MoCo, SimCLR) learn by pulling two random views of one image
together. The views come from the layers here: a random resized crop, a small
rotation and translation (with an optional horizontal flip), brightness/contrast
jitter and Gaussian noise. They work on batches of any height, width and number
of channels, run inside the TensorFlow graph (in `tf.data` or a model) and hold a
`keras.random.SeedGenerator`, so a seeded pipeline gives the same views every run.

The geometric layers each sample a per-image 3x3 matrix that maps output pixels to
input pixels; `ContrastiveAugmentation` multiplies them and resamples each image
once, which is cheaper and less blurry than resampling after every step.
"""

import math

import keras
from keras import ops

from keras_unsup.checks import check_bool, check_interval, check_number, check_seed


def _check_batch_rank(inputs):
    """Augmentation layers take tensors (often symbolic), so only their rank is checked."""
    if len(inputs.shape) != 4:
        raise ValueError(
            "Augmentation layers expect a batch of images of shape "
            f"(batch, height, width, channels). Received: shape {tuple(inputs.shape)}"
        )


def _apply_matrices(images, matrices):
    """Resamples each image with its (output -> input) pixel matrix, shape `(b, 3, 3)`."""
    flat = ops.reshape(matrices, (-1, 9))[:, :8] / matrices[:, 2:3, 2]
    return ops.image.affine_transform(images, flat, interpolation="bilinear",
                                      fill_mode="constant", fill_value=0.0,
                                      data_format="channels_last")


def _matrix(rows):
    """Stacks 3x3 matrices given as nine `(b,)` tensors, row-major, into `(b, 3, 3)`."""
    return ops.reshape(ops.stack(rows, axis=-1), (-1, 3, 3))


class _GeometricTransform(keras.layers.Layer):
    """A random geometric transform: subclasses draw one 3x3 matrix per image in
    `sample_matrices(batch, height, width)`; this class warps the images with them."""

    def call(self, inputs, training=True):
        _check_batch_rank(inputs)
        if not training:
            return inputs
        shape = ops.shape(inputs)
        return _apply_matrices(inputs, self.sample_matrices(shape[0], shape[1], shape[2]))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_unsup")
class RandomResizedCrop(_GeometricTransform):
    """Crops a random box of each image and resizes it back to the image's size.

    The box covers a share `scale` of the image's area with aspect ratio `ratio`
    (sampled log-uniformly), as in SimCLR (Chen et al., 2020). Active in training
    (the default, as for Keras' own augmentation layers); identity otherwise.

    Args:
        scale: `(min, max)` share of the area a crop covers, in (0, 1].
        ratio: `(min, max)` width/height ratio of the crop.
        seed: integer seed of the boxes.

    Call arguments:
        inputs: images of shape `(batch, height, width, channels)`.
        training: apply the augmentation (default `True`).

    Input and output shape: `(batch, height, width, channels)`, unchanged.

    Example:

    >>> crops = RandomResizedCrop(scale=(0.5, 1.0), seed=0)(np.ones((4, 28, 28, 1)))
    """

    def __init__(self, scale=(0.3, 1.0), ratio=(3 / 4, 4 / 3), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_interval(scale, "scale", 0.0, 1.0)
        self.ratio = check_interval(ratio, "ratio", 0.0, math.inf)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def sample_matrices(self, batch, height, width):
        """Per-image `(batch, 3, 3)` matrices mapping output pixels to input pixels."""
        h, w = ops.cast(height, "float32"), ops.cast(width, "float32")
        area = keras.random.uniform((batch,), *self.scale, seed=self.seed_generator)
        log_ratio = keras.random.uniform((batch,), math.log(self.ratio[0]),
                                         math.log(self.ratio[1]), seed=self.seed_generator)
        aspect = ops.exp(log_ratio)
        crop_w = ops.minimum(w * ops.sqrt(area * aspect), w)
        crop_h = ops.minimum(h * ops.sqrt(area / aspect), h)
        offset = keras.random.uniform((batch, 2), seed=self.seed_generator)
        x0 = offset[:, 0] * (w - crop_w)
        y0 = offset[:, 1] * (h - crop_h)
        zero, one = ops.zeros_like(x0), ops.ones_like(x0)
        return _matrix([crop_w / w, zero, x0, zero, crop_h / h, y0, zero, zero, one])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "ratio": self.ratio, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_unsup")
class RandomAffine(_GeometricTransform):
    """Rotates each image by a small random angle, shifts it and optionally flips it.

    Pixels moved in from outside the image are black (0), the background of MNIST-
    like images. Horizontal flips suit natural images and clothes, not digits.

    Args:
        rotation: largest rotation in degrees, in [0, 180].
        translation: largest shift as a share of the height and width, in [0, 1].
        horizontal_flip: flip half of the images left to right.
        seed: integer seed of the angles, shifts and flips.

    Call arguments:
        inputs: images of shape `(batch, height, width, channels)`.
        training: apply the augmentation (default `True`).

    Input and output shape: `(batch, height, width, channels)`, unchanged.

    Example:

    >>> moved = RandomAffine(rotation=15, translation=0.1, seed=0)(np.ones((4, 32, 32, 3)))
    """

    def __init__(self, rotation=10.0, translation=0.1, horizontal_flip=False, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.rotation = check_number(rotation, "rotation", 0, 180)
        self.translation = check_number(translation, "translation", 0, 1)
        self.horizontal_flip = check_bool(horizontal_flip, "horizontal_flip")
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def sample_matrices(self, batch, height, width):
        """Per-image `(batch, 3, 3)` matrices mapping output pixels to input pixels."""
        h, w = ops.cast(height, "float32"), ops.cast(width, "float32")
        limit = self.rotation * math.pi / 180.0
        angle = keras.random.uniform((batch,), -limit, limit, seed=self.seed_generator)
        shift = keras.random.uniform((batch, 2), -self.translation, self.translation,
                                     seed=self.seed_generator)
        flip = keras.random.uniform((batch,), seed=self.seed_generator)
        sign = ops.where(flip < 0.5, -1.0, 1.0) if self.horizontal_flip else ops.ones_like(flip)
        cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
        cos, sin = ops.cos(angle), ops.sin(angle)
        # input = R (F (out - c)) + c - t: flip about the centre, rotate, then shift.
        a0, a1 = cos * sign, -sin
        b0, b1 = sin * sign, cos
        tx, ty = shift[:, 0] * w, shift[:, 1] * h
        a2 = cx - tx - a0 * cx - a1 * cy
        b2 = cy - ty - b0 * cx - b1 * cy
        zero, one = ops.zeros_like(angle), ops.ones_like(angle)
        return _matrix([a0, a1, a2, b0, b1, b2, zero, zero, one])

    def get_config(self):
        config = super().get_config()
        config.update({"rotation": self.rotation, "translation": self.translation,
                       "horizontal_flip": self.horizontal_flip, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_unsup")
class RandomBrightnessContrast(keras.layers.Layer):
    """Jitters each image's brightness and contrast, keeping pixels in [0, 1].

    Each image gets `x' = clip((x - mean) * c + mean + b, 0, 1)` with its own
    contrast factor `c` in `[1 - contrast, 1 + contrast]` and brightness shift `b`
    in `[-brightness, brightness]`; `mean` is the image's mean over all pixels.

    Args:
        brightness: largest brightness shift, in [0, 1].
        contrast: largest relative contrast change, in [0, 1].
        seed: integer seed.

    Call arguments:
        inputs: images of shape `(batch, height, width, channels)` in [0, 1].
        training: apply the augmentation (default `True`).

    Input and output shape: `(batch, height, width, channels)`, unchanged.

    Example:

    >>> jittered = RandomBrightnessContrast(0.2, 0.3, seed=0)(np.full((4, 8, 8, 3), 0.5))
    """

    def __init__(self, brightness=0.2, contrast=0.3, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.brightness = check_number(brightness, "brightness", 0, 1)
        self.contrast = check_number(contrast, "contrast", 0, 1)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=True):
        _check_batch_rank(inputs)
        if not training:
            return inputs
        batch = ops.shape(inputs)[0]
        factor = keras.random.uniform((batch, 1, 1, 1), 1.0 - self.contrast, 1.0 + self.contrast,
                                      seed=self.seed_generator)
        shift = keras.random.uniform((batch, 1, 1, 1), -self.brightness, self.brightness,
                                     seed=self.seed_generator)
        mean = ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        out = (inputs - mean) * ops.cast(factor, inputs.dtype) + mean + ops.cast(shift, inputs.dtype)
        return ops.clip(out, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"brightness": self.brightness, "contrast": self.contrast,
                       "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_unsup")
class RandomGaussianNoise(keras.layers.Layer):
    """Adds Gaussian noise of deviation `stddev` to every pixel, clipped to [0, 1].

    Unlike `keras.layers.GaussianNoise` it defaults to being active (`training=True`),
    like the other view augmentations, so it works inside `tf.data`.

    Args:
        stddev: deviation of the noise, >= 0.
        seed: integer seed.

    Call arguments:
        inputs: images of shape `(batch, height, width, channels)` in [0, 1].
        training: apply the augmentation (default `True`).

    Input and output shape: unchanged.

    Example:

    >>> noisy = RandomGaussianNoise(0.05, seed=0)(np.full((2, 8, 8, 1), 0.5))
    """

    def __init__(self, stddev=0.05, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = check_number(stddev, "stddev", 0)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=True):
        _check_batch_rank(inputs)
        if not training or self.stddev == 0.0:
            return inputs
        noise = keras.random.normal(ops.shape(inputs), stddev=self.stddev,
                                    seed=self.seed_generator, dtype=inputs.dtype)
        return ops.clip(inputs + noise, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_unsup")
class ContrastiveAugmentation(keras.layers.Layer):
    """The view pipeline of contrastive learning: crop, rotate/shift/flip, jitter, noise.

    Geometric steps are composed into one matrix per image and applied in one
    resampling; the photometric steps follow. Setting an argument to 0 (or a crop
    scale of `(1, 1)`) turns its step off.

    Args:
        crop_scale: `(min, max)` share of the area a random crop covers.
        crop_ratio: `(min, max)` aspect ratio of the crop.
        rotation: largest rotation in degrees.
        translation: largest shift as a share of the image size.
        horizontal_flip: flip half of the views left to right (not for digits).
        brightness: largest brightness shift.
        contrast: largest relative contrast change.
        noise: deviation of additive Gaussian noise.
        seed: integer seed; each step derives its own from it.

    Call arguments:
        inputs: images of shape `(batch, height, width, channels)` in [0, 1].
        training: apply the augmentation (default `True`).

    Input and output shape: `(batch, height, width, channels)`, unchanged.

    Example:

    >>> augment = ContrastiveAugmentation(horizontal_flip=True, seed=0)
    >>> view_1, view_2 = augment(images), augment(images)
    """

    def __init__(self, crop_scale=(0.3, 1.0), crop_ratio=(3 / 4, 4 / 3), rotation=10.0,
                 translation=0.1, horizontal_flip=False, brightness=0.2, contrast=0.3,
                 noise=0.03, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(seed)

        def sub_seed(i):
            return None if self.seed is None else self.seed * 4 + i

        self.crop = RandomResizedCrop(crop_scale, crop_ratio, seed=sub_seed(0), name="crop")
        self.affine = RandomAffine(rotation, translation, horizontal_flip, seed=sub_seed(1),
                                   name="affine")
        self.jitter = RandomBrightnessContrast(brightness, contrast, seed=sub_seed(2),
                                               name="jitter")
        self.gaussian_noise = RandomGaussianNoise(noise, seed=sub_seed(3), name="noise")
        self.built = True

    def call(self, inputs, training=True):
        _check_batch_rank(inputs)
        if not training:
            return inputs
        shape = ops.shape(inputs)
        b, h, w = shape[0], shape[1], shape[2]
        # output -> crop-output -> input: the crop's matrix acts last, so it is on the left.
        matrices = ops.matmul(self.crop.sample_matrices(b, h, w),
                              self.affine.sample_matrices(b, h, w))
        out = _apply_matrices(inputs, matrices)
        out = self.jitter(out, training=True)
        return self.gaussian_noise(out, training=True)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "crop_scale": self.crop.scale, "crop_ratio": self.crop.ratio,
            "rotation": self.affine.rotation, "translation": self.affine.translation,
            "horizontal_flip": self.affine.horizontal_flip,
            "brightness": self.jitter.brightness, "contrast": self.jitter.contrast,
            "noise": self.gaussian_noise.stddev, "seed": self.seed,
        })
        return config


def default_augmentation(seed=None, **overrides):
    """The `ContrastiveAugmentation` every contrastive recipe uses, whatever the data.

    No horizontal flips by default: they are safe for clothes and natural images but
    change the meaning of digits and letters, and nothing here may guess which data it
    was given. `horizontal_flip=True` (the recipes' option) turns them on.
    """
    settings = {"horizontal_flip": False, "seed": seed}
    settings.update(overrides)
    return ContrastiveAugmentation(**settings)


def two_view_dataset(x, batch_size=256, *, augmentation=None, seed=None, shuffle=True,
                     drop_remainder=True, repeat=False):
    """Batches of two independently augmented views of the same images.

    Each element is `(view_1, view_2)`, both of shape `(batch, height, width,
    channels)`; row `i` of both is the same source image. The augmentation runs in
    the `tf.data` graph, one batch at a time and in order, so a seeded augmentation
    gives the same views on every run.

    Args:
        x: images of shape `(n, height, width, channels)` in [0, 1].
        batch_size: images per batch.
        augmentation: a layer (or any callable on a batch tensor) making one view;
            default `ContrastiveAugmentation(seed=seed)`.
        seed: seed of the shuffle (and of the default augmentation).
        shuffle: reshuffle the order every epoch.
        drop_remainder: drop the last, smaller batch (contrastive losses prefer
            batches of one size).
        repeat: repeat without end.

    Returns:
        A prefetched `tf.data.Dataset` of `(view_1, view_2)` pairs.

    Example:

    >>> ds = two_view_dataset(data.x_train, 256, seed=0)
    >>> view_1, view_2 = next(iter(ds))
    """
    from keras_unsup.data.pipeline import image_dataset

    views = _two_views(augmentation, seed)
    # One call at a time: the augmentation's seed state advances in a fixed order.
    return image_dataset(x, batch_size, shuffle=shuffle, seed=seed,
                         drop_remainder=drop_remainder, map_fn=views, repeat=repeat,
                         parallel_map=False)


def two_view_stream(ds, *, augmentation=None, seed=None):
    """Turns a `tf.data.Dataset` of image batches into one of `(view_1, view_2)` pairs.

    The streaming counterpart of `two_view_dataset`, for batches that are not held in
    memory (e.g. `FolderDataset.train_stream(..., drop_remainder=True)`): each batch
    is augmented twice by the same augmentation, one batch at a time and in order, so
    a seeded augmentation gives the same views on every run.

    Args:
        ds: a dataset of float32 image batches `(batch, height, width, channels)`.
        augmentation: a layer (or any callable on a batch tensor) making one view;
            default `ContrastiveAugmentation(seed=seed)`.
        seed: seed of the default augmentation.

    Returns:
        A prefetched `tf.data.Dataset` of `(view_1, view_2)` pairs.

    Example:

    >>> ds = two_view_stream(data.train_stream(256, seed=0, drop_remainder=True), seed=0)
    """
    import tensorflow as tf

    views = _two_views(augmentation, seed)
    if not isinstance(ds, tf.data.Dataset):
        raise ValueError(f"`ds` must be a tf.data.Dataset of image batches. "
                         f"Received: ds of type {type(ds).__name__}")
    # One call at a time: the augmentation's seed state advances in a fixed order.
    return ds.map(views).prefetch(tf.data.AUTOTUNE)


def _two_views(augmentation, seed):
    """The batch -> `(view_1, view_2)` function of a checked augmentation (default:
    `ContrastiveAugmentation(seed=seed)`)."""
    if augmentation is None:
        augmentation = ContrastiveAugmentation(seed=seed)
    if not callable(augmentation):
        raise ValueError(f"`augmentation` must be a layer or callable. Received: {augmentation!r}")

    def view(batch):
        if isinstance(augmentation, keras.layers.Layer):
            return augmentation(batch, training=True)
        return augmentation(batch)

    def views(batch):
        return view(batch), view(batch)

    return views
