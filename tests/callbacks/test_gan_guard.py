import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.gan import build_dcgan_discriminator, build_dcgan_generator
from keras_unsup.callbacks.gan_guard import GANGuard, mean_pairwise_distance
from keras_unsup.models.gan import GAN

SHAPE = (8, 8, 1)


def tiny_gan():
    gan = GAN(
        build_dcgan_generator(4, SHAPE, filters=4),
        build_dcgan_discriminator(SHAPE, filters=4),
        seed=0,
    )
    gan.compile(jit_compile=False)
    return gan


def test_mean_pairwise_distance_is_analytic():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert mean_pairwise_distance(points) == pytest.approx((5.0 + 0.0 + 5.0) / 3)
    with pytest.raises(ValueError, match="at least 2 images"):
        mean_pairwise_distance(points[:1])


def test_nan_loss_stops_training_and_restores_the_last_good_weights(tmp_path):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    good = np.random.default_rng(0).random((32, *SHAPE)).astype("float32")
    bad = good.copy()
    bad[16:] = np.nan  # the third and fourth batches of epoch 2 poison the losses
    epochs = [good, bad, good]

    def batches():
        for x in epochs:
            for i in range(0, 32, 8):
                yield x[i : i + 8]

    ds = tf.data.Dataset.from_generator(batches, output_signature=tf.TensorSpec((8, *SHAPE)))

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.after_first = [w.copy() for w in self.model.get_weights()]

    record = Record()
    guard = GANGuard(checkpoint_path=tmp_path / "last_good.weights.h5")
    with pytest.warns(RuntimeWarning, match="became NaN or infinite at epoch 2, batch 3"):
        history = gan.fit(ds, epochs=3, steps_per_epoch=4, callbacks=[record, guard], verbose=0)
    assert len(history.epoch) == 2  # stopped during epoch 2, epoch 3 never ran
    assert "end of epoch 1" in guard.stopped_reason
    for now, then in zip(gan.get_weights(), record.after_first):
        np.testing.assert_array_equal(now, then)
    assert all(np.all(np.isfinite(w)) for w in gan.get_weights())
    fresh = tiny_gan()
    fresh.load_weights(tmp_path / "last_good.weights.h5")
    z = gan.fixed_latent(3)
    np.testing.assert_array_equal(fresh.generate(latent=z), gan.generate(latent=z))


def test_collapse_warning_when_samples_lose_their_diversity():
    gan = tiny_gan()
    # A generator whose last layer ignores its input makes one image: total collapse.
    last = gan.generator.get_layer("image")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    real = np.random.default_rng(0).random((64, *SHAPE)).astype("float32")
    guard = GANGuard(real, n_samples=32, warmup_epochs=1)
    guard.set_model(gan)
    guard.on_train_begin()
    logs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning during warm-up
        guard.on_epoch_end(0, logs)
    assert logs["diversity_ratio"] == pytest.approx(0.0, abs=1e-6)
    with pytest.warns(UserWarning, match="Possible mode collapse at epoch 2"):
        guard.on_epoch_end(1, {})
    assert guard.collapse_epochs == [1]


def test_no_collapse_warning_for_diverse_samples():
    gan = tiny_gan()
    real = np.random.default_rng(0).random((64, *SHAPE)).astype("float32")
    guard = GANGuard(real, n_samples=32, collapse_ratio=0.0, warmup_epochs=0)
    guard.set_model(gan)
    guard.on_train_begin()
    guard.on_epoch_end(0, {})
    assert guard.collapse_epochs == [] and guard.diversity_ratios[0] > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"checkpoint_path": "x.h5"}, "must end in '.weights.h5'"),
        ({"collapse_ratio": 2}, "`collapse_ratio` must be a number in"),
        ({"n_samples": 1}, "`n_samples` must be an integer >= 2"),
        ({"reference_images": np.zeros((3, 8, 8))}, "`reference_images` must be images"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GANGuard(**kwargs)
