"""No warnings we cause: one fit per family through our own pipelines, with every
warning turned into an error."""

import warnings

import keras
import numpy as np
import pytest

from keras_unsup.recipes import training


def _images(n=64, shape=(8, 8, 1), seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype("float32")


def _fit_strictly(model, make_ds, tmp_path=None, **kwargs):
    """Builds the pipeline and fits through it with every warning an error."""
    from keras_unsup.recipes.base import RunDir

    run = RunDir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history, _ = training.fit(model, make_ds(), epochs=2, run=run, n_images=64, verbose=0,
                                  **kwargs)
    return history


@pytest.mark.parametrize("with_run_folder", [False, True])
def test_autoencoder_fit_warns_nothing(tmp_path, with_run_folder):
    from keras_unsup.builders.autoencoder import build_dense_autoencoder
    from keras_unsup.data.pipeline import autoencoder_dataset

    ae, _, _ = build_dense_autoencoder(input_shape=(8, 8, 1), code_size=2, hidden_units=(8,))
    ae.compile(optimizer="adam", loss="mse")
    x = _images()
    history = _fit_strictly(ae, lambda: autoencoder_dataset(x, 16, seed=0),
                            tmp_path if with_run_folder else None,
                            validation_data=autoencoder_dataset(x, 64, shuffle=False),
                            patience=2)
    assert len(history.history["loss"]) == 2


def test_gan_fit_warns_nothing(tmp_path):
    from keras_unsup.builders.gan import build_dcgan_discriminator, build_dcgan_generator
    from keras_unsup.data.pipeline import image_dataset
    from keras_unsup.models.gan import GAN

    shape = (8, 8, 1)
    gan = GAN(build_dcgan_generator(4, shape, filters=4),
              build_dcgan_discriminator(shape, filters=4), seed=0)
    gan.compile()
    history = _fit_strictly(
        gan, lambda: image_dataset(_images(), 16, seed=0, drop_remainder=True), tmp_path)
    assert len(history.history["d_loss"]) == 2


def test_moco_fit_warns_nothing(tmp_path):
    from keras_unsup.builders.backbones import build_small_convnet
    from keras_unsup.data.views import default_augmentation, two_view_dataset
    from keras_unsup.models.moco import MoCo

    encoder = build_small_convnet((8, 8, 1), embedding_dim=8, filters=(4, 4))
    moco = MoCo(encoder, queue_size=16, seed=0)
    moco.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = _fit_strictly(moco, lambda: two_view_dataset(
        _images(), 16, augmentation=default_augmentation(seed=0), seed=0), tmp_path)
    assert len(history.history["loss"]) == 2


def test_dec_fit_warns_nothing(tmp_path):
    from keras_unsup.callbacks.target_distribution_refresh import TargetDistributionRefresh
    from keras_unsup.models.dec import DEC

    image = keras.Input((8, 8, 1))
    encoder = keras.Model(image, keras.layers.Dense(3)(keras.layers.Flatten()(image)))
    dec = DEC(encoder, n_clusters=3)
    dec.compile()
    x = _images()
    refresh = TargetDistributionRefresh(x, update_interval=4, batch_size=16, tol=0.0, n_init=2,
                                        seed=0)
    history = _fit_strictly(dec, refresh.dataset, tmp_path, callbacks=[refresh])
    assert len(history.history["loss"]) == 2
