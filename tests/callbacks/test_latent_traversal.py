import matplotlib.pyplot as plt
import numpy as np
import pytest

from keras_unsup.builders.gan import (
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_infogan_discriminator,
    build_infogan_generator,
)
from keras_unsup.callbacks.latent_traversal import LatentTraversal, latent_traversal_figure
from keras_unsup.models.gan import GAN
from keras_unsup.models.infogan import InfoGAN

SHAPE = (8, 8, 1)


def tiny_infogan():
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
        seed=0,
    )


def test_figure_rows_are_categories_and_columns_the_swept_values():
    model = tiny_infogan()
    fig = latent_traversal_figure(model, code=1, values=[-2.0, -1.0, 0.0, 1.0, 2.0])
    assert len(fig.axes) == 3 * 5
    assert [ax.get_ylabel() for ax in fig.axes[::5]] == ["c=0", "c=1", "c=2"]
    assert [ax.get_title() for ax in fig.axes[:5]] == ["-2.0", "-1.0", "+0.0", "+1.0", "+2.0"]
    # Each cell shows the image generated from its latent.
    expected = model.generate(latent=model.traversal_latent(1, [-2.0, -1.0, 0.0, 1.0, 2.0]))
    np.testing.assert_allclose(fig.axes[7].images[0].get_array(), expected[7, ..., 0], atol=1e-6)
    plt.close(fig)


def test_callback_writes_one_figure_per_code(tmp_path):
    model = tiny_infogan()
    callback = LatentTraversal(output_dir=tmp_path, values=[-1.0, 1.0])
    callback.set_model(model)
    callback.on_epoch_end(0)
    assert sorted(p.name for p in callback.paths) == [
        "traversal_code0_epoch_001.png",
        "traversal_code1_epoch_001.png",
    ]


def test_needs_an_infogan():
    gan = GAN(
        build_dcgan_generator(4, SHAPE, filters=4), build_dcgan_discriminator(SHAPE, filters=4)
    )
    with pytest.raises(ValueError, match="`model` must be an InfoGAN"):
        latent_traversal_figure(gan)
    with pytest.raises(ValueError, match="`codes` must be None or non-negative integers"):
        LatentTraversal(codes=[-1])
