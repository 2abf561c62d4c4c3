import matplotlib.pyplot as plt
import numpy as np
import pytest

from keras_unsup.builders.gan import build_dcgan_discriminator, build_dcgan_generator
from keras_unsup.callbacks.generated_images import GeneratedImages, generated_grid
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


def test_writes_a_grid_every_few_epochs_from_the_same_noise(tmp_path):
    gan = tiny_gan()
    callback = GeneratedImages(n=6, seed=1, output_dir=tmp_path / "grids", every=2, ncols=3)
    x = np.random.default_rng(0).random((16, *SHAPE)).astype("float32")
    gan.fit(x, batch_size=8, epochs=4, callbacks=[callback], verbose=0)
    assert [p.name for p in callback.paths] == [
        "generated_epoch_002.png",
        "generated_epoch_004.png",
    ]
    assert all(p.is_file() and p.stat().st_size > 0 for p in callback.paths)
    np.testing.assert_array_equal(callback.latent, gan.fixed_latent(6, seed=1))


def test_grid_has_one_axes_per_image():
    gan = tiny_gan()
    fig = generated_grid(gan, gan.fixed_latent(6), ncols=3, title="t")
    assert len(fig.axes) == 6
    plt.close(fig)


def test_does_nothing_without_output_dir_or_show():
    callback = GeneratedImages(n=4)
    callback.set_model(tiny_gan())
    callback.on_train_begin()
    callback.on_epoch_end(0)
    assert callback.paths == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "`n` must be an integer >= 1"),
        ({"every": 0}, "`every` must be an integer >= 1"),
        ({"latent": np.zeros(4)}, "`latent` must have shape"),
        ({"ncols": 0}, "`ncols` must be an integer >= 1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GeneratedImages(**kwargs)
