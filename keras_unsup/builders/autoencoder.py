"""Functional-API builders of the autoencoder family: dense, sparse, convolutional
(DEC-DA's CAE), convolutional denoising and variational.

Every builder returns `(autoencoder, encoder, decoder)`, three uncompiled
`keras.Model`s that share their layers: the autoencoder is
`decoder(encoder(image))`, the encoder maps images of `input_shape` to codes of
shape `(batch, code_size)` (the features used for clustering and probing) and the
decoder maps codes back to images of `input_shape`. The models hold no training
logic, no Lambda layers, and save to and load from `.keras` files in safe mode.
Any image shape works (8x8x1 digits, 28x28x1 MNIST, 32x32x3 CIFAR).
"""

import math

import keras

from keras_unsup.checks import (
    check_input_shape,
    check_number,
    check_positive_int,
    check_seed,
    check_units,
)
from keras_unsup.layers.kl_divergence import KLDivergence
from keras_unsup.layers.sampling import Sampling

# `vae.get_layer(GAUSSIAN_ENCODER_NAME)` maps images to `[z_mean, z_log_var]`.
GAUSSIAN_ENCODER_NAME = "gaussian_encoder"


def build_dense_autoencoder(input_shape=(28, 28, 1), code_size=10,
                            hidden_units=(500, 500, 2000), activation="relu",
                            output_activation="sigmoid", code_activation=None):
    """Fully connected autoencoder, by default the DEC stack d-500-500-2000-10.

    The default widths are those of Xie et al. (2016), "Unsupervised Deep
    Embedding for Clustering Analysis" (DEC), also used by IDEC: encoder
    d-500-500-2000-10 with a linear code layer, decoder its mirror
    10-2000-500-500-d. Some tutorials write the stack as 784-2000-500-500-10;
    pass `hidden_units=(2000, 500, 500)` for that order.

    Args:
        input_shape: image shape `(height, width, channels)`.
        code_size: width of the code layer.
        hidden_units: widths of the encoder's hidden layers, input side first;
            the decoder uses them in reverse.
        activation: activation of the hidden layers.
        output_activation: activation of the reconstruction (`"sigmoid"` for
            images in [0, 1]).
        code_activation: activation of the code layer (`None`: linear, as in DEC).

    Returns:
        `(autoencoder, encoder, decoder)`, uncompiled:
        autoencoder `(batch, *input_shape) -> (batch, *input_shape)`,
        encoder `(batch, *input_shape) -> (batch, code_size)`,
        decoder `(batch, code_size) -> (batch, *input_shape)`.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> autoencoder, encoder, decoder = build_dense_autoencoder((28, 28, 1), code_size=10)
    >>> autoencoder.compile(optimizer="adam", loss="mse")
    >>> autoencoder.fit(x, x, epochs=10)
    >>> codes = encoder.predict(x)  # (n, 10)
    """
    input_shape = check_input_shape(input_shape)
    code_size = check_positive_int(code_size, "code_size")
    hidden_units = check_units(hidden_units, "hidden_units")
    return _build_dense(
        input_shape, code_size, hidden_units, activation, output_activation,
        code_activation, activity_regularizer=None, name="dense_autoencoder",
    )


def build_sparse_autoencoder(input_shape=(28, 28, 1), code_size=32, l1=1e-5,
                             hidden_units=(), activation="relu",
                             output_activation="sigmoid", code_activation="relu"):
    """Autoencoder whose codes carry an L1 activity penalty, which makes them sparse.

    The code layer has `activity_regularizer=keras.regularizers.L1(l1)`, so every
    forward pass in training adds `l1 * sum(|code|)` (averaged over the batch by
    Keras) to `model.losses`. The default is the single-layer sparse autoencoder
    d-32-d with ReLU codes (Keras blog, "Building Autoencoders in Keras"); add
    `hidden_units` for a deep one.

    Args:
        input_shape: image shape `(height, width, channels)`.
        code_size: width of the code layer.
        l1: non-negative L1 penalty on the code activations.
        hidden_units: widths of the encoder's hidden layers, input side first.
        activation: activation of the hidden layers.
        output_activation: activation of the reconstruction.
        code_activation: activation of the code layer.

    Returns:
        `(autoencoder, encoder, decoder)`, uncompiled, shaped as in
        `build_dense_autoencoder`.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> autoencoder, encoder, decoder = build_sparse_autoencoder((28, 28, 1), l1=1e-5)
    >>> autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    """
    input_shape = check_input_shape(input_shape)
    code_size = check_positive_int(code_size, "code_size")
    hidden_units = check_units(hidden_units, "hidden_units")
    l1 = check_number(l1, "l1", 0)
    return _build_dense(
        input_shape, code_size, hidden_units, activation, output_activation,
        code_activation, activity_regularizer=keras.regularizers.L1(l1),
        name="sparse_autoencoder",
    )


def build_conv_denoising_autoencoder(input_shape=(28, 28, 1), code_size=32,
                                     filters=(32, 64, 128), kernel_size=3,
                                     activation="relu", output_activation="sigmoid"):
    """Convolutional autoencoder for denoising: conv/pool blocks, a dense code, mirror.

    Encoder: one `Conv2D(f) -> MaxPooling2D(2)` block per entry of `filters`, then
    `Flatten -> Dense(code_size)`. Decoder: `Dense -> Reshape`, then one
    `UpSampling2D(2) -> Conv2D(f)` block per entry of `filters` in reverse, and a
    `Conv2D(channels)` with `output_activation`. Upsampling followed by a
    convolution avoids the checkerboard artefacts of strided transposed
    convolutions (Odena et al., 2016).

    Images whose height or width is not a multiple of `2 ** len(filters)` (28 with
    three blocks) are zero-padded on the way in and cropped by the same amounts on
    the way out, so the reconstruction has exactly `input_shape`.

    The network is trained to map noisy images to clean ones: the noise (for
    example `keras_unsup.data.augment.SaltAndPepper`) is applied to the inputs in
    the tf.data pipeline (`autoencoder_dataset(x, noise=...)`), not in the model,
    so the model itself is deterministic.

    Args:
        input_shape: image shape `(height, width, channels)`.
        code_size: width of the dense code.
        filters: filters of the encoder's convolution blocks, input side first.
        kernel_size: size of the square convolution kernels.
        activation: activation of the hidden layers.
        output_activation: activation of the reconstruction.

    Returns:
        `(autoencoder, encoder, decoder)`, uncompiled, with the input, code and
        output shapes of `build_dense_autoencoder`'s models.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> autoencoder, encoder, decoder = build_conv_denoising_autoencoder((28, 28, 1))
    >>> autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    >>> ds = autoencoder_dataset(x, 128, noise=SaltAndPepper(0.2, seed=0, always=True))
    >>> autoencoder.fit(ds, epochs=10)
    """
    input_shape = check_input_shape(input_shape)
    code_size = check_positive_int(code_size, "code_size")
    filters = check_units(filters, "filters", allow_empty=False)
    kernel_size = check_positive_int(kernel_size, "kernel_size")

    height, width, channels = input_shape
    grid_h, grid_w, padding, needs_padding = _padding(height, width, 2 ** len(filters))

    image = keras.Input(shape=input_shape, name="image")
    x = image
    if needs_padding:
        x = keras.layers.ZeroPadding2D(padding, name="pad")(x)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, kernel_size, padding="same", activation=activation,
                                name=f"encoder_conv_{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"encoder_pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    code = keras.layers.Dense(code_size, name="code")(x)
    encoder = keras.Model(image, code, name="encoder")

    code_in = keras.Input(shape=(code_size,), name="code")
    y = keras.layers.Dense(grid_h * grid_w * filters[-1], activation=activation,
                           name="decoder_dense")(code_in)
    y = keras.layers.Reshape((grid_h, grid_w, filters[-1]), name="unflatten")(y)
    for i, f in enumerate(reversed(filters)):
        y = keras.layers.UpSampling2D(2, name=f"decoder_upsample_{i}")(y)
        y = keras.layers.Conv2D(f, kernel_size, padding="same", activation=activation,
                                name=f"decoder_conv_{i}")(y)
    y = keras.layers.Conv2D(channels, kernel_size, padding="same",
                            activation=output_activation, name="reconstruction")(y)
    if needs_padding:
        y = keras.layers.Cropping2D(padding, name="crop")(y)
    decoder = keras.Model(code_in, y, name="decoder")

    return _chain(input_shape, encoder, decoder, "conv_denoising_autoencoder")


def build_conv_autoencoder(input_shape=(28, 28, 1), code_size=10, filters=(32, 64, 128),
                           kernel_sizes=(5, 5, 3), activation="relu", output_activation=None):
    """The convolutional autoencoder (CAE) of DEC-DA: strided convolutions, a dense code.

    Guo, Zhu, Liu and Yin (2018), "Deep Embedded Clustering with Data Augmentation"
    (ACML), whose ConvDEC-DA clusters the codes of this network: encoder
    `Conv2D(32, 5, stride 2) -> Conv2D(64, 5, stride 2) -> Conv2D(128, 3, stride 2)
    -> Flatten -> Dense(10)` (a linear embedding), decoder `Dense -> Reshape` and the
    mirrored `Conv2DTranspose` layers (stride 2), the last one linear, as theirs, for
    a mean-squared-error loss.

    Every convolution pads `"same"`, so each halves the height and width (rounding
    up); images whose sides are not multiples of `2 ** len(filters)` (28 with three
    layers) are zero-padded on the way in and the reconstruction is cropped back to
    `input_shape` (their 28x28 network uses a `"valid"` last layer instead: a 3x3
    grid where this one has 4x4).

    Args:
        input_shape: image shape `(height, width, channels)`.
        code_size: width of the linear embedding.
        filters: filters of the encoder's strided convolutions, input side first.
        kernel_sizes: their kernel sizes, one per entry of `filters`.
        activation: activation of the hidden layers.
        output_activation: activation of the reconstruction (`None`: linear, as in
            DEC-DA; `"sigmoid"` for images in [0, 1]).

    Returns:
        `(autoencoder, encoder, decoder)`, uncompiled, with the input, code and
        output shapes of `build_dense_autoencoder`'s models.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> autoencoder, encoder, decoder = build_conv_autoencoder((28, 28, 1), code_size=10)
    >>> autoencoder.compile(optimizer="adam", loss="mse")
    >>> autoencoder.fit(x, x, epochs=10)
    """
    input_shape = check_input_shape(input_shape)
    code_size = check_positive_int(code_size, "code_size")
    filters = check_units(filters, "filters", allow_empty=False)
    kernel_sizes = check_units(kernel_sizes, "kernel_sizes", allow_empty=False)
    if len(kernel_sizes) != len(filters):
        raise ValueError(f"`kernel_sizes` must be one size per entry of `filters` "
                         f"({len(filters)}). Received: kernel_sizes={list(kernel_sizes)}")
    height, width, channels = input_shape
    grid_h, grid_w, padding, needs_padding = _padding(height, width, 2 ** len(filters))

    image = keras.Input(shape=input_shape, name="image")
    x = keras.layers.ZeroPadding2D(padding, name="pad")(image) if needs_padding else image
    for i, (f, k) in enumerate(zip(filters, kernel_sizes)):
        x = keras.layers.Conv2D(f, k, strides=2, padding="same", activation=activation,
                                name=f"encoder_conv_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    code = keras.layers.Dense(code_size, name="code")(x)
    encoder = keras.Model(image, code, name="encoder")

    code_in = keras.Input(shape=(code_size,), name="code")
    y = keras.layers.Dense(grid_h * grid_w * filters[-1], activation=activation,
                           name="decoder_dense")(code_in)
    y = keras.layers.Reshape((grid_h, grid_w, filters[-1]), name="unflatten")(y)
    # Each transposed convolution undoes one encoder layer, the last gives the channels.
    outs = list(reversed(filters[:-1])) + [channels]
    for i, (f, k) in enumerate(zip(outs, reversed(kernel_sizes))):
        last = i == len(outs) - 1
        y = keras.layers.Conv2DTranspose(
            f, k, strides=2, padding="same",
            activation=output_activation if last else activation,
            name="reconstruction" if last else f"decoder_deconv_{i}")(y)
    if needs_padding:
        y = keras.layers.Cropping2D(padding, name="crop")(y)
    decoder = keras.Model(code_in, y, name="decoder")
    return _chain(input_shape, encoder, decoder, "conv_autoencoder")


def _padding(height, width, factor):
    """The grid after `log2(factor)` halvings, and the zero padding that makes it exact."""
    grid_h, grid_w = math.ceil(height / factor), math.ceil(width / factor)
    pad_h, pad_w = grid_h * factor - height, grid_w * factor - width
    padding = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))
    return grid_h, grid_w, padding, pad_h > 0 or pad_w > 0


def build_vae(input_shape=(28, 28, 1), latent_dim=2, hidden_units=(500,),
              activation="relu", kl_weight=1.0, seed=None):
    """Variational autoencoder with a Bernoulli decoder (Kingma and Welling, 2014).

    The Gaussian encoder maps an image to `[z_mean, z_log_var]`; a `KLDivergence`
    layer adds KL(q(z|x) || N(0, I)), averaged over the batch, to `vae.losses`;
    a `Sampling` layer draws `z` by reparameterisation, and the decoder's sigmoid
    output is the mean of a Bernoulli distribution over each pixel.

    Compile the VAE with `loss=keras_unsup.losses.BernoulliNLL()`, the Bernoulli
    negative log-likelihood summed over pixels, and fit it on `(x, x)`: the total
    loss is then NLL + KL, the negative ELBO per image.

    The returned `encoder` outputs `z_mean` only: the deterministic code used for
    clustering, probing and plotting. The full Gaussian encoder, images to
    `[z_mean, z_log_var]`, is the nested model `vae.get_layer("gaussian_encoder")`
    (also after `keras.saving.load_model`).

    Args:
        input_shape: image shape `(height, width, channels)`, values in [0, 1].
        latent_dim: dimension of the latent space.
        hidden_units: widths of the encoder's hidden layers, input side first;
            the decoder uses them in reverse.
        activation: activation of the hidden layers.
        kl_weight: multiplier of the KL term (1.0: the ELBO; other values: a
            beta-VAE).
        seed: integer seed of the `Sampling` layer, or `None`.

    Returns:
        `(vae, encoder, decoder)`, uncompiled:
        vae `(batch, *input_shape) -> (batch, *input_shape)` (a sampled
        reconstruction's Bernoulli means),
        encoder `(batch, *input_shape) -> (batch, latent_dim)` (`z_mean`),
        decoder `(batch, latent_dim) -> (batch, *input_shape)`.

    Raises:
        ValueError: if an argument is invalid.

    Example:

    >>> vae, encoder, decoder = build_vae(input_shape=(28, 28, 1), latent_dim=2)
    >>> vae.compile(optimizer="adam", loss=BernoulliNLL())
    >>> vae.fit(x, x, epochs=10)
    >>> samples = decoder.predict(np.random.normal(size=(16, 2)))
    """
    input_shape = check_input_shape(input_shape)
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    hidden_units = check_units(hidden_units, "hidden_units")
    kl_weight = check_number(kl_weight, "kl_weight", 0)
    seed = check_seed(seed)

    image = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(image)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation=activation, name=f"encoder_dense_{i}")(x)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    gaussian_encoder = keras.Model(image, [z_mean, z_log_var], name=GAUSSIAN_ENCODER_NAME)
    # Shares the layers of the Gaussian encoder; the KL term is not part of it,
    # so encoding data for clustering adds no loss.
    encoder = keras.Model(image, z_mean, name="encoder")

    decoder = _dense_decoder(input_shape, latent_dim, hidden_units, activation, "sigmoid",
                             code_name="z")

    vae_input = keras.Input(shape=input_shape, name="image")
    mean, log_var = gaussian_encoder(vae_input)
    mean, log_var = KLDivergence(weight=float(kl_weight), name="kl_divergence")([mean, log_var])
    z = Sampling(seed=seed, name="sampling")([mean, log_var])
    vae = keras.Model(vae_input, decoder(z), name="vae")
    return vae, encoder, decoder


def _build_dense(input_shape, code_size, hidden_units, activation, output_activation,
                 code_activation, activity_regularizer, name):
    image = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(image)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation=activation, name=f"encoder_dense_{i}")(x)
    code = keras.layers.Dense(code_size, activation=code_activation,
                              activity_regularizer=activity_regularizer, name="code")(x)
    encoder = keras.Model(image, code, name="encoder")
    decoder = _dense_decoder(input_shape, code_size, hidden_units, activation,
                             output_activation, code_name="code")
    return _chain(input_shape, encoder, decoder, name)


def _dense_decoder(input_shape, code_size, hidden_units, activation, output_activation,
                   code_name):
    code = keras.Input(shape=(code_size,), name=code_name)
    y = code
    for i, units in enumerate(reversed(hidden_units)):
        y = keras.layers.Dense(units, activation=activation, name=f"decoder_dense_{i}")(y)
    y = keras.layers.Dense(math.prod(input_shape), activation=output_activation,
                           name="reconstruction")(y)
    y = keras.layers.Reshape(input_shape, name="unflatten")(y)
    return keras.Model(code, y, name="decoder")


def _chain(input_shape, encoder, decoder, name):
    image = keras.Input(shape=input_shape, name="image")
    autoencoder = keras.Model(image, decoder(encoder(image)), name=name)
    return autoencoder, encoder, decoder
