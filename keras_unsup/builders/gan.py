"""Functional-API builders of the generative family: DCGAN, InfoGAN and BEGAN networks.

Every builder returns uncompiled `keras.Model`s with no training logic and no
Lambda layers; the training logic lives in `keras_unsup.models` (`GAN`, `InfoGAN`,
`WGANGP`). Generators end in a sigmoid, matching images in [0, 1]. Discriminators
return raw logits (or, for a WGAN-GP critic, raw scores) and name their last hidden
layer `FEATURES_LAYER`, so that `features_model(discriminator)` gives the features
a linear probe reads.

Image shapes: height and width must be divisible by 2 (DCGAN) or by 4 (InfoGAN);
28x28x1 (MNIST), 32x32x3 (CIFAR) and 8x8x1 (digits) all work. BEGAN's networks
take any shape that halves down to a map of at most 8x8 (see `began_scale_steps`).
BEGAN's discriminator is an autoencoder: it returns a reconstruction, and its
`"features"` layer is the embedding `h` of its encoder.
"""

import keras

from keras_unsup.checks import (
    check_bool,
    check_choice,
    check_input_shape,
    check_int,
    check_positive_int,
)

# Name of the discriminators' last hidden layer (what a linear probe reads).
FEATURES_LAYER = "features"


def n_stride_two_steps(image_shape, name="image_shape", max_steps=3):
    """How many stride-2 (up or down) convolutions fit the image: 28 -> 2, 32 -> 3, 8 -> 2.

    The largest `n <= max_steps` for which height and width are divisible by `2**n`
    and the smallest feature map is at least 2x2.

    Raises:
        ValueError: if height or width is odd.
    """
    height, width, _ = check_input_shape(image_shape, name)
    steps = 0
    for n in range(1, max_steps + 1):
        factor = 2**n
        if height % factor == 0 and width % factor == 0 and min(height, width) // factor >= 2:
            steps = n
    if steps == 0:
        raise ValueError(
            f"`{name}` must have an even height and width of at least 4 (for example "
            f"(28, 28, 1) or (32, 32, 3)). Received: {name}={tuple(image_shape)!r}"
        )
    return steps


def build_dcgan_generator(latent_dim=100, image_shape=(28, 28, 1), filters=64, name="generator"):
    """The DCGAN generator (Radford et al., 2016) sized for `image_shape`.

    A dense projection to a small feature map, then stride-2 transposed
    convolutions (4x4 kernels) with batch normalisation and ReLU that double it
    each step, the last one to `channels` with a sigmoid. 28x28 images start
    from 7x7 (two steps), 32x32 from 4x4 (three), 8x8 from 2x2 (two).

    Args:
        latent_dim: size of the noise vector.
        image_shape: output image shape `(height, width, channels)`.
        filters: filters of the last hidden transposed convolution; earlier ones
            double it per step.
        name: name of the model.

    Returns:
        An uncompiled `keras.Model`: `(batch, latent_dim) -> (batch, *image_shape)`,
        values in [0, 1].

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> generator = build_dcgan_generator(100, (28, 28, 1))
    >>> generator.output_shape
    (None, 28, 28, 1)
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    image_shape = check_input_shape(image_shape, "image_shape")
    filters = check_positive_int(filters, "filters")
    steps = n_stride_two_steps(image_shape)
    height, width, channels = image_shape
    h0, w0 = height // 2**steps, width // 2**steps
    width0 = filters * 2 ** (steps - 1)

    z = keras.Input((latent_dim,), name="latent")
    x = keras.layers.Dense(h0 * w0 * width0, use_bias=False, name="project")(z)
    x = keras.layers.BatchNormalization(name="project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    x = keras.layers.Reshape((h0, w0, width0), name="reshape")(x)
    for i in range(steps - 1):
        f = width0 // 2 ** (i + 1)
        x = keras.layers.Conv2DTranspose(
            f, 4, strides=2, padding="same", use_bias=False, name=f"up{i + 1}"
        )(x)
        x = keras.layers.BatchNormalization(name=f"up{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"up{i + 1}_relu")(x)
    image = keras.layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", activation="sigmoid", name="image"
    )(x)
    return keras.Model(z, image, name=name)


def build_dcgan_discriminator(
    image_shape=(28, 28, 1), filters=64, batch_norm=True, name="discriminator"
):
    """The DCGAN discriminator (or, with `batch_norm=False`, a WGAN-GP critic).

    Stride-2 4x4 convolutions with leaky ReLU (slope 0.2), doubling the filters
    each step, batch normalisation after all but the first; then the flattened
    feature map (layer `"features"`) and one linear output. A WGAN-GP critic must
    not use batch normalisation (the gradient penalty is per sample), so pass
    `batch_norm=False` for it.

    Args:
        image_shape: input image shape `(height, width, channels)`.
        filters: filters of the first convolution.
        batch_norm: batch normalisation after the second and later convolutions.
        name: name of the model.

    Returns:
        An uncompiled `keras.Model`: `(batch, *image_shape) -> (batch, 1)` logits.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> discriminator = build_dcgan_discriminator((32, 32, 3))
    >>> discriminator.output_shape
    (None, 1)
    """
    image_shape = check_input_shape(image_shape, "image_shape")
    filters = check_positive_int(filters, "filters")
    batch_norm = check_bool(batch_norm, "batch_norm")
    steps = n_stride_two_steps(image_shape)

    image = keras.Input(image_shape, name="image")
    x = image
    for i in range(steps):
        x = keras.layers.Conv2D(
            filters * 2**i,
            4,
            strides=2,
            padding="same",
            use_bias=not (batch_norm and i > 0),
            name=f"down{i + 1}",
        )(x)
        if batch_norm and i > 0:
            x = keras.layers.BatchNormalization(name=f"down{i + 1}_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i + 1}_lrelu")(x)
    features = keras.layers.Flatten(name=FEATURES_LAYER)(x)
    logit = keras.layers.Dense(1, name="logit")(features)
    return keras.Model(image, logit, name=name)


def build_infogan_generator(
    image_shape=(28, 28, 1),
    noise_dim=62,
    n_categories=10,
    n_continuous=2,
    hidden_units=1024,
    filters=64,
    name="generator",
):
    """InfoGAN's MNIST generator (Chen et al., 2016, appendix C.1).

    Input: the concatenation `[noise (noise_dim), one-hot category (n_categories),
    continuous codes (n_continuous)]`, 62 + 10 + 2 = 74 values by default. Then
    FC 1024 ReLU batch-norm, FC (h/4)x(w/4)x128 ReLU batch-norm, 4x4 up-conv 64
    ReLU stride 2 batch-norm, 4x4 up-conv to `channels` stride 2 (sigmoid).

    Args:
        image_shape: output shape; height and width divisible by 4.
        noise_dim: size of the incompressible noise.
        n_categories: size of the categorical code.
        n_continuous: number of continuous codes.
        hidden_units: width of the first dense layer (1024 in the paper).
        filters: filters of the up-convolution (64 in the paper; the dense
            projection has `2 * filters` channels).
        name: name of the model.

    Returns:
        An uncompiled `keras.Model`:
        `(batch, noise_dim + n_categories + n_continuous) -> (batch, *image_shape)`.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> generator = build_infogan_generator((28, 28, 1))
    >>> generator.input_shape
    (None, 74)
    """
    noise_dim = check_positive_int(noise_dim, "noise_dim")
    image_shape, n_categories, n_continuous, hidden_units, filters = _check_infogan_arguments(
        image_shape, n_categories, n_continuous, hidden_units, filters)
    height, width, channels = image_shape

    z = keras.Input((noise_dim + n_categories + n_continuous,), name="latent")
    x = keras.layers.Dense(hidden_units, use_bias=False, name="fc1")(z)
    x = keras.layers.BatchNormalization(name="fc1_bn")(x)
    x = keras.layers.ReLU(name="fc1_relu")(x)
    x = keras.layers.Dense((height // 4) * (width // 4) * 2 * filters, use_bias=False, name="fc2")(
        x
    )
    x = keras.layers.BatchNormalization(name="fc2_bn")(x)
    x = keras.layers.ReLU(name="fc2_relu")(x)
    x = keras.layers.Reshape((height // 4, width // 4, 2 * filters), name="reshape")(x)
    x = keras.layers.Conv2DTranspose(
        filters, 4, strides=2, padding="same", use_bias=False, name="up1"
    )(x)
    x = keras.layers.BatchNormalization(name="up1_bn")(x)
    x = keras.layers.ReLU(name="up1_relu")(x)
    image = keras.layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", activation="sigmoid", name="image"
    )(x)
    return keras.Model(z, image, name=name)


def build_infogan_discriminator(
    image_shape=(28, 28, 1),
    n_categories=10,
    n_continuous=2,
    hidden_units=1024,
    filters=64,
    q_units=128,
    name="discriminator",
):
    """InfoGAN's MNIST discriminator D and recognition network Q, sharing one trunk.

    Trunk (Chen et al., 2016, appendix C.1): 4x4 conv 64 leaky ReLU stride 2,
    4x4 conv 128 leaky ReLU stride 2 batch-norm, FC 1024 leaky ReLU batch-norm
    (layer `"features"`). D: FC to one logit. Q: FC 128 batch-norm leaky ReLU, then
    FC to the categorical code's logits and to the means of the continuous codes
    (a factored Gaussian with unit variance).

    Args:
        image_shape: input shape; height and width divisible by 4.
        n_categories: size of the categorical code.
        n_continuous: number of continuous codes (0: no continuous output).
        hidden_units: width of the trunk's dense layer (1024 in the paper).
        filters: filters of the first convolution (64; the second has twice).
        q_units: width of Q's hidden layer (128 in the paper).
        name: name of the model.

    Returns:
        An uncompiled `keras.Model` with outputs
        `[d_logit (batch, 1), q_categorical (batch, n_categories)]` followed, when
        `n_continuous > 0`, by `q_continuous (batch, n_continuous)`.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> discriminator = build_infogan_discriminator((28, 28, 1))
    >>> [tuple(o.shape) for o in discriminator.outputs]
    [(None, 1), (None, 10), (None, 2)]
    """
    image_shape, n_categories, n_continuous, hidden_units, filters = _check_infogan_arguments(
        image_shape, n_categories, n_continuous, hidden_units, filters)
    q_units = check_positive_int(q_units, "q_units")

    image = keras.Input(image_shape, name="image")
    x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name="conv1")(image)
    x = keras.layers.LeakyReLU(0.1, name="conv1_lrelu")(x)
    x = keras.layers.Conv2D(
        2 * filters, 4, strides=2, padding="same", use_bias=False, name="conv2"
    )(x)
    x = keras.layers.BatchNormalization(name="conv2_bn")(x)
    x = keras.layers.LeakyReLU(0.1, name="conv2_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hidden_units, use_bias=False, name="fc1")(x)
    x = keras.layers.BatchNormalization(name="fc1_bn")(x)
    features = keras.layers.LeakyReLU(0.1, name=FEATURES_LAYER)(x)
    d_logit = keras.layers.Dense(1, name="d_logit")(features)
    q = keras.layers.Dense(q_units, use_bias=False, name="q_fc")(features)
    q = keras.layers.BatchNormalization(name="q_bn")(q)
    q = keras.layers.LeakyReLU(0.1, name="q_lrelu")(q)
    outputs = [d_logit, keras.layers.Dense(n_categories, name="q_categorical")(q)]
    if n_continuous:
        outputs.append(keras.layers.Dense(n_continuous, name="q_continuous")(q))
    return keras.Model(image, outputs, name=name)


def features_model(discriminator):
    """A model from the discriminator's input to its `"features"` layer (flattened).

    Args:
        discriminator: a model from `build_dcgan_discriminator` or
            `build_infogan_discriminator` (any model with a layer named `"features"`).

    Returns:
        A `keras.Model` sharing the discriminator's layers: `(batch, *image_shape)
        -> (batch, n_features)`.

    Raises:
        ValueError: if the model has no layer named `"features"`.
    """
    names = [layer.name for layer in getattr(discriminator, "layers", [])]
    if FEATURES_LAYER not in names:
        raise ValueError(
            f"`discriminator` must have a layer named {FEATURES_LAYER!r} (as the builders "
            f"of keras_unsup.builders.gan make). Received: a model with layers {names}"
        )
    output = discriminator.get_layer(FEATURES_LAYER).output
    return keras.Model(discriminator.input, output, name=f"{discriminator.name}_features")


def _check_infogan_arguments(image_shape, n_categories, n_continuous, hidden_units, filters):
    """The checks both InfoGAN networks make; returns the arguments as checked."""
    image_shape = check_input_shape(image_shape, "image_shape")
    if image_shape[0] % 4 or image_shape[1] % 4:
        raise ValueError(
            "`image_shape` must have a height and width divisible by 4 (two stride-2 "
            f"steps), for example (28, 28, 1). Received: image_shape={image_shape!r}"
        )
    return (
        image_shape,
        check_int(n_categories, "n_categories", 2),
        check_int(n_continuous, "n_continuous", 0),
        check_positive_int(hidden_units, "hidden_units"),
        check_positive_int(filters, "filters"),
    )


def began_scale_steps(image_shape, name="image_shape"):
    """How many times BEGAN's networks halve (or double) the image: 8 -> 0, 28 -> 2, 32 -> 2, 64 -> 3.

    Berthelot et al. (2017) start the decoder from an 8x8 map; this takes the
    fewest halvings of height and width that reach a map whose larger side is at
    most 8, so 32x32 and 64x64 start from 8x8, 28x28 from 7x7, 8x8 digits use no
    up- or down-sampling at all.

    Raises:
        ValueError: if height and width cannot be halved that many times exactly
            (e.g. 30x30, which would need 7.5x7.5).
    """
    height, width, _ = check_input_shape(image_shape, name)
    steps = 0
    while max(height, width) > 8 * 2**steps:
        steps += 1
    factor = 2**steps
    if height % factor or width % factor:
        raise ValueError(
            f"`{name}` must have a height and width that halve {steps} time(s) exactly "
            f"(divisible by {factor}) down to a map of at most 8x8, for example (28, 28, 1), "
            f"(32, 32, 3) or (8, 8, 1); pad or crop the images to such a shape. "
            f"Received: {name}={tuple(image_shape)!r}"
        )
    return steps


def _began_decoder(x, image_shape, filters, steps, prefix):
    """BEGAN's decoder from a flat vector: dense to an (h0, w0, filters) map, then
    `steps + 1` blocks of two 3x3 convolutions with ELU, each but the last followed by
    a nearest-neighbour doubling, then a 3x3 convolution to the channels (no activation)."""
    height, width, channels = image_shape
    h0, w0 = height // 2**steps, width // 2**steps
    x = keras.layers.Dense(h0 * w0 * filters, name=f"{prefix}project")(x)
    x = keras.layers.Reshape((h0, w0, filters), name=f"{prefix}reshape")(x)
    for i in range(steps + 1):
        for j in (1, 2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", activation="elu", name=f"{prefix}block{i + 1}_conv{j}"
            )(x)
        if i < steps:
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{prefix}up{i + 1}")(x)
    return keras.layers.Conv2D(channels, 3, padding="same", name=f"{prefix}to_image")(x)


def build_began_generator(latent_dim=64, image_shape=(28, 28, 1), filters=64,
                          output_activation="linear", name="generator"):
    """BEGAN's generator (Berthelot et al., 2017, figure 1), sized for `image_shape`.

    A dense projection of the noise to an 8x8 (at most) map of `filters` channels,
    then repeated blocks `[conv 3x3 ELU, conv 3x3 ELU, nearest-neighbour upsampling]`
    (the last block without upsampling) and a 3x3 convolution to the channels, linear
    as in the paper (`BEGAN.generate` clips its images to [0, 1]). A sigmoid output
    (`output_activation="sigmoid"`) saturates: on Fashion-MNIST the L1 loss drives it
    to all-black images whose gradient vanishes. The number of upsamplings is
    `began_scale_steps(image_shape)`: 2 for 28x28 and 32x32, 0 for 8x8.

    Args:
        latent_dim: size of the noise vector (64 in the paper).
        image_shape: output image shape `(height, width, channels)`.
        filters: channels of every convolution (`n` in the paper, 64 or 128).
        output_activation: `"linear"` (the paper) or `"sigmoid"`.
        name: name of the model.

    Returns:
        An uncompiled `keras.Model`: `(batch, latent_dim) -> (batch, *image_shape)`.

    Raises:
        ValueError: if an argument is invalid or the shape cannot be built.

    Example:

    >>> generator = build_began_generator(64, (32, 32, 3), filters=32)
    >>> generator.output_shape
    (None, 32, 32, 3)
    """
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    image_shape = check_input_shape(image_shape, "image_shape")
    filters = check_positive_int(filters, "filters")
    output_activation = check_choice(output_activation, "output_activation",
                                     ("linear", "sigmoid"))
    steps = began_scale_steps(image_shape)

    z = keras.Input((latent_dim,), name="latent")
    x = _began_decoder(z, image_shape, filters, steps, prefix="")
    image = keras.layers.Activation(output_activation, name="image")(x)
    return keras.Model(z, image, name=name)


def build_began_discriminator(
    image_shape=(28, 28, 1), filters=64, embedding_dim=64, name="discriminator"
):
    """BEGAN's discriminator: a convolutional autoencoder (Berthelot et al., 2017, figure 1).

    Encoder: a 3x3 convolution with `filters` channels, then blocks of two 3x3
    convolutions with ELU whose widths grow linearly (`filters`, `2 * filters`, ...),
    each but the last followed by a stride-2 3x3 convolution (sub-sampling), then a
    dense layer to the embedding `h` (layer `"features"`, what a linear probe reads).
    Decoder: the generator's architecture (its own weights) from `h`, with a linear
    output, so that the L1 reconstruction error can reach 0 on both 0 and 1 pixels.

    Args:
        image_shape: input image shape `(height, width, channels)`.
        filters: `n` of the paper: channels of the decoder and the first encoder block.
        embedding_dim: size of the embedding `h` (64 in the paper).
        name: name of the model.

    Returns:
        An uncompiled `keras.Model`: `(batch, *image_shape) -> (batch, *image_shape)`
        reconstructions.

    Raises:
        ValueError: if an argument is invalid or the shape cannot be built.

    Example:

    >>> discriminator = build_began_discriminator((28, 28, 1), filters=16)
    >>> discriminator.output_shape
    (None, 28, 28, 1)
    """
    image_shape = check_input_shape(image_shape, "image_shape")
    filters = check_positive_int(filters, "filters")
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    steps = began_scale_steps(image_shape)

    image = keras.Input(image_shape, name="image")
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="elu", name="enc_stem")(image)
    for i in range(steps + 1):
        width = filters * (i + 1)
        for j in (1, 2):
            x = keras.layers.Conv2D(
                width, 3, padding="same", activation="elu", name=f"enc_block{i + 1}_conv{j}"
            )(x)
        if i < steps:
            x = keras.layers.Conv2D(
                filters * (i + 2), 3, strides=2, padding="same", activation="elu",
                name=f"enc_down{i + 1}",
            )(x)
    x = keras.layers.Flatten(name="enc_flatten")(x)
    embedding = keras.layers.Dense(embedding_dim, name=FEATURES_LAYER)(x)
    reconstruction = _began_decoder(embedding, image_shape, filters, steps, prefix="dec_")
    return keras.Model(image, reconstruction, name=name)
