import keras
import numpy as np
import pytest

from keras_unsup.builders.gan import (
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_infogan_discriminator,
    build_infogan_generator,
)
from keras_unsup.data.pipeline import image_dataset
from keras_unsup.models.gan import GAN
from keras_unsup.models.infogan import InfoGAN
from keras_unsup.models.wgan_gp import WGANGP

SHAPE = (8, 8, 1)


def tiny_gan(seed=0):
    return GAN(
        build_dcgan_generator(4, SHAPE, filters=4),
        build_dcgan_discriminator(SHAPE, filters=4),
        seed=seed,
    )


def tiny_infogan(seed=0):
    return InfoGAN(
        build_infogan_generator(
            SHAPE, noise_dim=4, n_categories=3, n_continuous=2, hidden_units=8, filters=4
        ),
        build_infogan_discriminator(
            SHAPE, n_categories=3, n_continuous=2, hidden_units=8, filters=4, q_units=4
        ),
        noise_dim=4,
        n_categories=3,
        n_continuous=2,
        seed=seed,
    )


def tiny_wgan(seed=0):
    return WGANGP(
        build_dcgan_generator(4, SHAPE, filters=4),
        build_dcgan_discriminator(SHAPE, filters=4, batch_norm=False),
        n_critic=2,
        seed=seed,
    )


MAKERS = {"GAN": tiny_gan, "InfoGAN": tiny_infogan, "WGANGP": tiny_wgan}
TRACKED = {
    "GAN": ["d_loss", "g_loss"],
    "InfoGAN": ["d_loss", "g_loss", "info_loss", "q_accuracy"],
    "WGANGP": ["d_loss", "g_loss", "gradient_penalty", "wasserstein"],
}


def images(n=32, seed=0):
    return np.random.default_rng(seed).random((n, *SHAPE)).astype("float32")


@pytest.mark.parametrize("name", list(MAKERS))
def test_train_step_updates_both_networks_and_reports_its_losses(name):
    keras.utils.set_random_seed(0)
    model = MAKERS[name]()
    model.compile(jit_compile=False)
    g_before = [w.numpy().copy() for w in model.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    history = model.fit(image_dataset(images(), 8, seed=0), epochs=1, verbose=0)
    assert list(history.history) == TRACKED[name]
    assert [m.name for m in model.metrics] == TRACKED[name]
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert any(
        np.abs(w.numpy() - b).max() > 0 for w, b in zip(model.generator.trainable_weights, g_before)
    )
    assert any(
        np.abs(w.numpy() - b).max() > 0
        for w, b in zip(model.discriminator.trainable_weights, d_before)
    )
    steps = 4
    critic_steps = 2 if name == "WGANGP" else 1  # n_critic critic updates per generator update
    assert int(model.g_optimizer.iterations.numpy()) == steps
    assert int(model.d_optimizer.iterations.numpy()) == steps * critic_steps


def test_noise_is_seeded_and_fresh_every_draw():
    a, b, c = tiny_gan(seed=3), tiny_gan(seed=3), tiny_gan(seed=4)
    first = keras.ops.convert_to_numpy(a.sample_latent(5))
    assert first.shape == (5, 4)
    np.testing.assert_array_equal(first, keras.ops.convert_to_numpy(b.sample_latent(5)))
    assert np.abs(first - keras.ops.convert_to_numpy(c.sample_latent(5))).max() > 0
    assert np.abs(first - keras.ops.convert_to_numpy(a.sample_latent(5))).max() > 0
    # Standard normal: a seeded statistical check on a large draw.
    big = keras.ops.convert_to_numpy(a.sample_latent(4000))
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1.0) < 0.05


def test_generate_and_call_agree():
    gan = tiny_gan()
    z = gan.fixed_latent(6, seed=1)
    np.testing.assert_array_equal(z, gan.fixed_latent(6, seed=1))
    out = gan.generate(latent=z, batch_size=4)  # two generator calls
    assert out.shape == (6, *SHAPE)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(gan(z)), atol=1e-6)
    assert gan.discriminator_features(images(3)).shape == (3, 2 * 2 * 8)


@pytest.mark.parametrize("name", list(MAKERS))
def test_config_round_trip_rebuilds_the_same_model(name):
    model = MAKERS[name](seed=7)
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config()["seed"] == 7
    for key in config:
        if key not in ("generator", "discriminator", "name"):
            assert clone.get_config()[key] == config[key]
    assert clone.generator.count_params() == model.generator.count_params()
    assert clone.discriminator.count_params() == model.discriminator.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MAKERS))
def test_save_and_load_give_identical_generator_outputs(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = MAKERS[name]()
    model.compile(
        d_optimizer=keras.optimizers.Adam(3e-4, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(1e-4),
        jit_compile=False,
    )
    model.fit(image_dataset(images(16), 8, seed=0), epochs=1, verbose=0)
    path = tmp_path / "gan.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe mode
    assert type(loaded) is type(model)
    z = model.fixed_latent(5, seed=2)
    np.testing.assert_array_equal(loaded.generate(latent=z), model.generate(latent=z))
    np.testing.assert_allclose(
        loaded.discriminator_features(images(4)), model.discriminator_features(images(4)), atol=1e-6
    )
    # The optimizers come back with their settings and state.
    assert loaded.d_optimizer is not loaded.g_optimizer
    assert float(loaded.d_optimizer.learning_rate.numpy()) == pytest.approx(3e-4)
    assert float(loaded.g_optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    assert int(loaded.g_optimizer.iterations.numpy()) == int(model.g_optimizer.iterations.numpy())
    loaded.fit(image_dataset(images(16), 8, seed=0), epochs=1, verbose=0)  # trains on


@pytest.mark.slow
def test_backup_and_restore_resumes_both_optimizers(tmp_path):
    from keras_unsup.recipes import training
    from keras_unsup.recipes.base import RunDir

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    class Capture(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self, "start"):
                self.start = (
                    epoch,
                    [w.numpy().copy() for w in self.model.generator.weights],
                    int(self.model.d_optimizer.iterations.numpy()),
                    int(self.model.g_optimizer.iterations.numpy()),
                )

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.after_first = [w.numpy().copy() for w in self.model.generator.weights]

    run = RunDir(tmp_path)
    ds = image_dataset(images(16), 8, seed=0)
    keras.utils.set_random_seed(0)
    first, capture = tiny_wgan(), Capture()
    first.compile(jit_compile=False)
    with pytest.raises(KeyboardInterrupt):
        training.fit(
            first, ds, epochs=3, run=run, n_images=16, callbacks=[capture, Interrupt()], verbose=0
        )
    second, resumed = tiny_wgan(seed=1), Capture()
    second.compile(jit_compile=False)
    history, _ = training.fit(
        second, ds, epochs=3, run=run, n_images=16, callbacks=[resumed], verbose=0
    )
    epoch, weights, d_iter, g_iter = resumed.start
    assert epoch == 1  # the first epoch is not run again
    assert history.epoch == [0, 1, 2]  # the history holds the whole fit
    for a, b in zip(weights, capture.after_first):
        np.testing.assert_array_equal(a, b)
    assert (d_iter, g_iter) == (2 * 2, 2)  # 2 steps, n_critic=2: the optimizers' state came back


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: GAN("g", build_dcgan_discriminator(SHAPE, filters=4)),
            "`generator` must be a keras.Model",
        ),
        (
            lambda: GAN(
                build_dcgan_generator(4, SHAPE, filters=4),
                build_dcgan_discriminator((16, 16, 1), filters=4),
            ),
            "`discriminator` must take the generator's images",
        ),
        (
            lambda: GAN(
                build_dcgan_generator(4, SHAPE, filters=4),
                build_dcgan_discriminator(SHAPE, filters=4),
                seed=1.5,
            ),
            "`seed` must be an integer",
        ),
    ],
)
def test_bad_constructor_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_compile_arguments():
    gan = tiny_gan()
    shared = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer objects"):
        gan.compile(d_optimizer=shared, g_optimizer=shared)
    with pytest.raises(ValueError, match="takes `d_optimizer` and `g_optimizer`"):
        gan.compile(optimizer="adam")
    with pytest.raises(ValueError, match="`d_optimizer` must be a keras.optimizers.Optimizer"):
        gan.compile(d_optimizer=3)
    with pytest.raises(ValueError, match=r"`latent` must have shape \(n, 4\)"):
        gan.generate(latent=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="`x` must be a batch of images of shape"):
        gan.discriminator_features(np.zeros((2, 4, 4, 1)))
