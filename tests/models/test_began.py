import keras
import numpy as np
import pytest

from keras_unsup.builders.gan import (
    began_scale_steps,
    build_began_discriminator,
    build_began_generator,
    build_dcgan_discriminator,
    features_model,
)
from keras_unsup.data.pipeline import image_dataset
from keras_unsup.models.began import BEGAN, l1_reconstruction_loss

SHAPE = (8, 8, 1)
TRACKED = ["d_loss", "fake_loss", "g_loss", "k", "m_global", "real_loss"]


def tiny_began(output_activation="linear", **kwargs):
    kwargs.setdefault("seed", 0)
    return BEGAN(
        build_began_generator(4, SHAPE, filters=4, output_activation=output_activation),
        build_began_discriminator(SHAPE, filters=4, embedding_dim=4),
        **kwargs,
    )


def images(n=8, seed=0):
    return np.random.default_rng(seed).random((n, *SHAPE)).astype("float32")


def fit_one_step(model):
    model.compile(jit_compile=False)
    return model.fit(image_dataset(images(8), 8, seed=0), epochs=1, verbose=0).history


@pytest.mark.parametrize(
    "shape, steps", [((8, 8, 1), 0), ((28, 28, 1), 2), ((32, 32, 3), 2), ((64, 64, 3), 3),
                     ((16, 8, 1), 1), ((5, 5, 1), 0)]
)
def test_builders_size_the_networks_from_the_image_shape(shape, steps):
    assert began_scale_steps(shape) == steps
    generator = build_began_generator(8, shape, filters=4)
    discriminator = build_began_discriminator(shape, filters=4, embedding_dim=6)
    assert generator.output_shape == (None, *shape)
    assert discriminator.output_shape == (None, *shape)  # an autoencoder
    assert features_model(discriminator).output_shape == (None, 6)  # the embedding h
    ups = [layer for layer in generator.layers if isinstance(layer, keras.layers.UpSampling2D)]
    assert len(ups) == steps
    # the decoder starts from a map of at most 8x8, as in the paper
    start = generator.get_layer("reshape").output.shape
    assert max(start[1], start[2]) <= 8 and start[1] * 2**steps == shape[0]
    assert generator.get_layer("image").activation.__name__ == "linear"  # as in the paper
    sigmoid = build_began_generator(8, shape, filters=4, output_activation="sigmoid")
    out = keras.ops.convert_to_numpy(sigmoid(np.random.default_rng(0).normal(size=(2, 8))))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in discriminator.layers)


@pytest.mark.parametrize("shape", [(30, 30, 1), (9, 9, 1), (28, 18, 1)])
def test_builders_refuse_shapes_they_cannot_halve(shape):
    with pytest.raises(ValueError, match="`image_shape` must have a height and width that halve"):
        build_began_generator(8, shape)
    with pytest.raises(ValueError, match="pad or crop"):
        build_began_discriminator(shape)


def test_one_step_moves_k_by_the_equilibrium_rule():
    keras.utils.set_random_seed(0)
    # a sigmoid generator: its untrained images are grey (about 0.5 everywhere)
    model = tiny_began(output_activation="sigmoid", gamma=0.5, lambda_k=0.1, k_initial=0.5)
    history = fit_one_step(model)  # 8 images, batch 8: one step
    assert sorted(history) == TRACKED
    logs = {key: values[-1] for key, values in history.items()}
    assert all(np.isfinite(v) for v in logs.values())
    # d_loss = L(x) - k_0 L(G(z_D))
    assert logs["d_loss"] == pytest.approx(logs["real_loss"] - 0.5 * logs["fake_loss"], rel=1e-5)
    balance = 0.5 * logs["real_loss"] - logs["g_loss"]
    expected_k = float(np.clip(0.5 + 0.1 * balance, 0.0, 1.0))
    assert float(model.k) == pytest.approx(expected_k, abs=1e-6)
    assert logs["k"] == pytest.approx(expected_k, abs=1e-6)
    # the untrained D reconstructs grey images about as badly as real ones, so
    # L(G(z)) > gamma L(x) and k goes down, as the rule says
    assert balance < 0 and float(model.k) < 0.5
    assert logs["m_global"] == pytest.approx(logs["real_loss"] + abs(balance), rel=1e-5)


def test_k_stays_in_zero_one_and_does_not_move_with_lambda_k_zero():
    keras.utils.set_random_seed(0)
    low = tiny_began(output_activation="sigmoid", lambda_k=10.0, k_initial=0.0)
    fit_one_step(low)
    assert float(low.k) == 0.0  # clipped at 0 (grey fakes: the balance is negative)
    high = tiny_began(lambda_k=10.0, k_initial=1.0)
    history = fit_one_step(high)
    # the linear generator's near-0 images are easy to reconstruct: the balance is positive
    assert 0.5 * history["real_loss"][0] > history["g_loss"][0]
    assert float(high.k) == 1.0  # clipped at 1
    frozen = tiny_began(lambda_k=0.0, k_initial=0.3)
    fit_one_step(frozen)
    assert float(frozen.k) == pytest.approx(0.3)


def test_k_rises_when_real_images_are_reconstructed_worse_than_gamma_allows():
    # All-white real images: the untrained D (linear output near 0) reconstructs them
    # with L(x) near 1, the generator's grey images with L(G(z)) near 0.5, so with
    # gamma = 1 the balance gamma L(x) - L(G(z)) is positive and k must go up.
    keras.utils.set_random_seed(0)
    model = tiny_began(gamma=1.0, lambda_k=0.1, k_initial=0.2)
    model.compile(jit_compile=False)
    white = np.ones((8, *SHAPE), np.float32)
    logs = model.fit(image_dataset(white, 8, seed=0), epochs=1, verbose=0).history
    balance = logs["real_loss"][0] - logs["g_loss"][0]
    assert balance > 0.2
    assert float(model.k) == pytest.approx(0.2 + 0.1 * balance, abs=1e-6) and float(model.k) > 0.2


def test_l1_reconstruction_loss_is_the_pixel_mean_absolute_error():
    a = np.zeros((2, 2, 2, 1), np.float32)
    b = np.array([1.0, -3.0, 0.0, 0.0, 2.0, 0.0, 0.0, 2.0], np.float32).reshape(a.shape)
    assert float(l1_reconstruction_loss(a, b)) == pytest.approx(1.0)  # 8 / 8 pixels


def test_generate_features_and_defaults():
    model = tiny_began()
    model.compile()
    assert model.d_optimizer.learning_rate.numpy() == pytest.approx(1e-4)
    assert float(model.d_optimizer.beta_1) == pytest.approx(0.5)
    assert model.d_optimizer is not model.g_optimizer
    z = model.fixed_latent(5, seed=1) * 50.0  # far out: the linear generator leaves [0, 1]
    raw = keras.ops.convert_to_numpy(model(z))
    assert raw.min() < 0.0 or raw.max() > 1.0
    np.testing.assert_allclose(model.generate(latent=z, batch_size=2), np.clip(raw, 0, 1),
                               atol=1e-6)
    assert model.discriminator_features(images(3)).shape == (3, 4)
    assert float(model.k) == 0.0 and (model.gamma, model.lambda_k) == (0.5, 0.001)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gamma": 0.0}, r"`gamma` must be a number in \(0.0, 1.0\]. Received: gamma=0.0"),
        ({"gamma": 1.5}, "`gamma` must be a number in"),
        ({"gamma": float("nan")}, "`gamma` must be"),
        ({"lambda_k": -0.1}, r"`lambda_k` must be a number in \[0.0, inf\)"),
        ({"k_initial": 2.0}, "`k_initial` must be a number in"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_began(**kwargs)


def test_discriminator_must_be_an_autoencoder():
    with pytest.raises(ValueError, match="`discriminator` must be an autoencoder"):
        BEGAN(build_began_generator(4, SHAPE, filters=4), build_dcgan_discriminator(SHAPE, 4))


def test_discriminator_features_refuse_nan_images():
    x = images(2)
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="`x` must hold only finite values"):
        tiny_began().discriminator_features(x)


def test_config_round_trip():
    model = tiny_began(gamma=0.7, lambda_k=0.01, k_initial=0.1, seed=3)
    clone = BEGAN.from_config(model.get_config())
    for key in ("gamma", "lambda_k", "k_initial", "seed"):
        assert getattr(clone, key) == getattr(model, key)
    assert float(clone.k) == pytest.approx(0.1)
    assert clone.discriminator.count_params() == model.discriminator.count_params()


@pytest.mark.slow
def test_save_and_load_keep_generator_outputs_k_and_optimizers(tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_began(lambda_k=0.1, k_initial=0.5)
    fit_one_step(model)
    path = tmp_path / "began.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe mode
    assert type(loaded) is BEGAN
    assert float(loaded.k) == float(model.k) != 0.5
    np.testing.assert_array_equal(loaded.generate(6, seed=2), model.generate(6, seed=2))
    np.testing.assert_array_equal(loaded.discriminator_features(images(3)),
                                  model.discriminator_features(images(3)))
    assert int(loaded.g_optimizer.iterations.numpy()) == 1
    # training goes on from the loaded state
    loaded.fit(image_dataset(images(8), 8, seed=0), epochs=1, verbose=0)
    assert int(loaded.d_optimizer.iterations.numpy()) == 2


def test_interpolation_latent_runs_straight_between_fixed_draws():
    model = tiny_began()
    latent = model.interpolation_latent(3, n_steps=5, seed=4)
    assert latent.shape == (15, 4) and latent.dtype == np.float32
    ends = model.fixed_latent(6, seed=4)
    rows = latent.reshape(3, 5, 4)
    np.testing.assert_allclose(rows[:, 0], ends[:3], atol=1e-6)
    np.testing.assert_allclose(rows[:, -1], ends[3:], atol=1e-6)
    np.testing.assert_allclose(rows[:, 2], (ends[:3] + ends[3:]) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="`n_steps` must be an integer >= 2"):
        model.interpolation_latent(2, n_steps=1)
