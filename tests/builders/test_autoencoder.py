import math

import keras
import numpy as np
import pytest

from keras_unsup.builders import (
    build_conv_autoencoder,
    build_conv_denoising_autoencoder,
    build_dense_autoencoder,
    build_sparse_autoencoder,
    build_vae,
)
from keras_unsup.checks import check_images
from keras_unsup.data.augment import SaltAndPepper
from keras_unsup.data.pipeline import autoencoder_dataset
from keras_unsup.losses import BernoulliNLL

SHAPES = [(8, 8, 1), (28, 28, 1), (32, 32, 3)]

# Tiny networks: the tests check wiring, not capacity.
TINY = {
    "dense": (build_dense_autoencoder, {"code_size": 3, "hidden_units": (8,)}),
    "sparse": (build_sparse_autoencoder, {"code_size": 3, "hidden_units": (8,)}),
    "conv": (build_conv_denoising_autoencoder, {"code_size": 3, "filters": (2, 4, 4)}),
    "vae": (build_vae, {"latent_dim": 3, "hidden_units": (8,), "seed": 0}),
    "cae": (build_conv_autoencoder, {"code_size": 3, "filters": (2, 4, 4)}),
}


def tiny(kind, input_shape, **overrides):
    builder, kwargs = TINY[kind]
    return builder(input_shape=input_shape, **{**kwargs, **overrides})


def images(input_shape, n=4, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *input_shape)).astype("float32")


@pytest.mark.parametrize("input_shape", SHAPES)
@pytest.mark.parametrize("kind", list(TINY))
def test_shapes(kind, input_shape):
    autoencoder, encoder, decoder = tiny(kind, input_shape)
    assert autoencoder.input_shape == (None, *input_shape)
    assert autoencoder.output_shape == (None, *input_shape)
    assert encoder.output_shape == (None, 3)
    assert decoder.input_shape == (None, 3)
    assert decoder.output_shape == (None, *input_shape)

    x = images(input_shape, n=2)
    assert tuple(autoencoder(x).shape) == (2, *input_shape)
    assert tuple(encoder(x).shape) == (2, 3)


@pytest.mark.parametrize("kind", ["dense", "sparse", "conv", "cae"])
def test_autoencoder_is_decoder_of_encoder(kind):
    autoencoder, encoder, decoder = tiny(kind, (8, 8, 1))
    x = images((8, 8, 1))
    np.testing.assert_allclose(np.asarray(autoencoder(x)), np.asarray(decoder(encoder(x))),
                               rtol=1e-5, atol=1e-6)


def test_dense_defaults_are_the_dec_stack():
    _, encoder, decoder = build_dense_autoencoder(input_shape=(8, 8, 1))
    encoder_widths = [layer.units for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]
    decoder_widths = [layer.units for layer in decoder.layers if isinstance(layer, keras.layers.Dense)]
    assert encoder_widths == [500, 500, 2000, 10]
    assert decoder_widths == [2000, 500, 500, 64]
    assert encoder.get_layer("code").activation is keras.activations.linear


@pytest.mark.parametrize("input_shape, padded", [((8, 8, 1), False), ((28, 28, 1), True),
                                                  ((9, 13, 2), True)])
def test_conv_pads_and_crops_only_when_needed(input_shape, padded):
    autoencoder, encoder, decoder = build_conv_denoising_autoencoder(
        input_shape=input_shape, code_size=3, filters=(2, 2, 2))
    names = [layer.name for layer in encoder.layers]
    assert ("pad" in names) == padded
    assert ("crop" in [layer.name for layer in decoder.layers]) == padded
    assert autoencoder.output_shape == (None, *input_shape)
    # after three 2x2 poolings the padded image is a multiple of 8 on each side
    flat = encoder.get_layer("flatten").output.shape[-1]
    assert flat == math.ceil(input_shape[0] / 8) * math.ceil(input_shape[1] / 8) * 2


def test_sparse_autoencoder_adds_l1_activity_loss():
    l1 = 1e-2
    autoencoder, encoder, _ = build_sparse_autoencoder(
        input_shape=(8, 8, 1), code_size=4, l1=l1, hidden_units=(8,))
    x = images((8, 8, 1))
    codes = np.asarray(encoder(x))
    autoencoder(x)
    assert len(autoencoder.losses) == 1
    penalty = float(autoencoder.losses[0])
    assert penalty > 0
    # Keras averages the activity penalty over the batch.
    np.testing.assert_allclose(penalty, l1 * np.abs(codes).sum() / len(x), rtol=1e-5)

    plain, _, _ = build_dense_autoencoder(input_shape=(8, 8, 1), code_size=4, hidden_units=(8,))
    plain(x)
    assert plain.losses == []


def test_vae_losses_hold_the_kl_and_encoder_gives_z_mean():
    vae, encoder, decoder = tiny("vae", (8, 8, 1))
    x = images((8, 8, 1))
    vae(x)
    assert len(vae.losses) == 1

    z_mean, z_log_var = (np.asarray(t) for t in vae.get_layer("gaussian_encoder")(x))
    expected_kl = np.mean(0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1 - z_log_var, axis=-1))
    np.testing.assert_allclose(float(vae.losses[0]), expected_kl, rtol=1e-5)
    # the returned encoder is deterministic and adds no loss
    np.testing.assert_allclose(np.asarray(encoder(x)), z_mean, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(encoder(x)), np.asarray(encoder(x)))
    assert encoder.losses == []
    assert decoder.get_layer("reconstruction").activation is keras.activations.sigmoid


def test_vae_kl_weight_scales_the_kl():
    x = images((8, 8, 1))
    vae, _, _ = tiny("vae", (8, 8, 1))
    beta_vae, _, _ = tiny("vae", (8, 8, 1), kl_weight=4.0)
    beta_vae.set_weights(vae.get_weights())
    vae(x)
    beta_vae(x)
    np.testing.assert_allclose(float(beta_vae.losses[0]), 4.0 * float(vae.losses[0]), rtol=1e-5)


@pytest.mark.parametrize("kind", list(TINY))
@pytest.mark.parametrize("bad", [(28, 28), (28, 28, 0), (28.0, 28, 1), "28x28", None])
def test_bad_input_shape_raises(kind, bad):
    with pytest.raises(ValueError, match=r"`input_shape` must be a tuple of three positive"
                                         r".*Received: input_shape="):
        tiny(kind, bad)


@pytest.mark.parametrize("kind, argument", [("dense", "code_size"), ("sparse", "code_size"),
                                            ("conv", "code_size"), ("vae", "latent_dim"),
                                            ("cae", "code_size")])
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_bad_code_size_raises(kind, argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}` must be an integer >= 1\. "
                                         rf"Received: {argument}={value}"):
        tiny(kind, (8, 8, 1), **{argument: value})


@pytest.mark.parametrize("kind, overrides, argument", [
    ("dense", {"hidden_units": (8, 0)}, "hidden_units"),
    ("vae", {"hidden_units": 8}, "hidden_units"),
    ("sparse", {"l1": -1e-5}, "l1"),
    ("conv", {"filters": ()}, "filters"),
    ("conv", {"kernel_size": 0}, "kernel_size"),
    ("vae", {"kl_weight": -1.0}, "kl_weight"),
    ("vae", {"seed": 1.5}, "seed"),
    ("cae", {"kernel_sizes": (5, 0, 3)}, "kernel_sizes"),
    ("cae", {"kernel_sizes": (5, 3)}, "kernel_sizes"),
])
def test_other_bad_arguments_raise(kind, overrides, argument):
    with pytest.raises(ValueError, match=rf"`{argument}` must be .*Received: {argument}="):
        tiny(kind, (8, 8, 1), **overrides)


def test_check_images():
    autoencoder, _, _ = tiny("dense", (28, 28, 1))
    x = np.zeros((5, 28, 28, 1), "float32")
    assert check_images(x, autoencoder) is x
    message = r"`x` must have shape \(n, 28, 28, 1\) to match the model's input\. "
    with pytest.raises(ValueError, match=message + r"Received: x\.shape=\(5, 28, 28\)"):
        check_images(np.zeros((5, 28, 28)), autoencoder)
    with pytest.raises(ValueError, match=message + r"Received: x\.shape=\(5, 32, 32, 3\)"):
        check_images(np.zeros((5, 32, 32, 3)), autoencoder)
    with pytest.raises(ValueError, match=r"`x_test` must have shape"):
        check_images([1, 2], autoencoder, name="x_test")


def test_keras_rejects_a_wrong_image_size():
    autoencoder, _, _ = tiny("conv", (8, 8, 1))
    with pytest.raises(ValueError, match="incompatible"):
        autoencoder(np.zeros((2, 9, 9, 1), "float32"))


def train_losses(model, x, y, steps):
    # train_on_batch compiles once and reports each step's loss before its update.
    return [float(model.train_on_batch(x, y)) for _ in range(steps)]


@pytest.mark.parametrize("kind", ["dense", "sparse", "cae"])
def test_a_few_steps_reduce_the_loss(kind):
    keras.utils.set_random_seed(0)
    autoencoder, _, _ = tiny(kind, (8, 8, 1))
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=False)
    x = images((8, 8, 1), n=8)
    losses = train_losses(autoencoder, x, x, steps=10)
    assert losses[-1] < losses[0]


def test_denoising_steps_on_salt_and_pepper_inputs_reduce_the_loss():
    keras.utils.set_random_seed(0)
    autoencoder, _, _ = tiny("conv", (8, 8, 1))
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy",
                        jit_compile=False)
    x = images((8, 8, 1), n=8)
    noise = SaltAndPepper(0.3, seed=0, always=True)
    noisy, clean = next(iter(autoencoder_dataset(x, batch_size=8, noise=noise, shuffle=False)))
    assert np.any(np.asarray(noisy) != x)
    np.testing.assert_array_equal(np.asarray(clean), x)
    losses = train_losses(autoencoder, noisy, clean, steps=10)
    assert losses[-1] < losses[0]


def test_vae_steps_reduce_the_negative_elbo():
    keras.utils.set_random_seed(0)
    vae, _, _ = tiny("vae", (8, 8, 1))
    vae.compile(optimizer=keras.optimizers.Adam(1e-2), loss=BernoulliNLL(), jit_compile=False)
    x = (images((8, 8, 1), n=8) > 0.5).astype("float32")
    losses = train_losses(vae, x, x, steps=20)
    # z is sampled, so compare the mean of the first and last few steps.
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    # the negative ELBO is NLL (>= 0) plus KL (>= 0)
    assert min(losses) > 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(TINY))
def test_save_and_load_in_safe_mode(kind, tmp_path):
    input_shape = (8, 8, 1)
    autoencoder, encoder, decoder = tiny(kind, input_shape)
    if kind == "vae":
        autoencoder.compile(optimizer="adam", loss=BernoulliNLL())
        autoencoder.optimizer.build(autoencoder.trainable_variables)
    x = images(input_shape)
    codes = np.asarray(encoder(x))

    for model in (autoencoder, encoder, decoder):
        model.save(tmp_path / f"{model.name}.keras")
    loaded = keras.saving.load_model(tmp_path / f"{autoencoder.name}.keras")
    loaded_encoder = keras.saving.load_model(tmp_path / "encoder.keras")
    loaded_decoder = keras.saving.load_model(tmp_path / "decoder.keras")

    np.testing.assert_array_equal(np.asarray(loaded_encoder(x)), codes)
    inner = "gaussian_encoder" if kind == "vae" else "encoder"
    inner_codes = loaded.get_layer(inner)(x)
    if kind == "vae":
        inner_codes = inner_codes[0]
    np.testing.assert_array_equal(np.asarray(inner_codes), codes)
    z = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded_decoder(z)), np.asarray(decoder(z)))
    if kind == "vae":
        assert isinstance(loaded.loss, BernoulliNLL)
        loaded(x)
        assert len(loaded.losses) == 1
    else:
        np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(autoencoder(x)))


@pytest.mark.parametrize("input_shape, grid", [((28, 28, 1), (4, 4)), ((32, 32, 3), (4, 4)),
                                               ((8, 8, 1), (1, 1))])
def test_conv_autoencoder_is_the_dec_da_cae(input_shape, grid):
    autoencoder, encoder, decoder = build_conv_autoencoder(input_shape)
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128]
    assert [c.kernel_size for c in convs] == [(5, 5), (5, 5), (3, 3)]
    assert all(c.strides == (2, 2) for c in convs)
    code = encoder.get_layer("code")
    assert code.units == 10 and code.activation is keras.activations.linear
    assert convs[-1].output.shape[1:3] == grid
    deconvs = [layer for layer in decoder.layers
               if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [d.filters for d in deconvs] == [64, 32, input_shape[-1]]
    assert [d.kernel_size for d in deconvs] == [(3, 3), (5, 5), (5, 5)]
    assert deconvs[-1].activation is keras.activations.linear  # DEC-DA's linear output
    assert autoencoder.output_shape == (None, *input_shape)
