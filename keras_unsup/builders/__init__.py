"""Functional-API builders that return keras.Model objects (no training logic)."""

from keras_unsup.builders.autoencoder import (
    build_conv_autoencoder,
    build_conv_denoising_autoencoder,
    build_dense_autoencoder,
    build_sparse_autoencoder,
    build_vae,
)
from keras_unsup.builders.backbones import build_projection_head, build_small_convnet
from keras_unsup.builders.gan import (
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_infogan_discriminator,
    build_infogan_generator,
)
from keras_unsup.builders.tiles import build_tile_encoder, build_tiled_encoder

__all__ = [
    "build_tile_encoder",
    "build_tiled_encoder",
    "build_conv_autoencoder",
    "build_conv_denoising_autoencoder",
    "build_dense_autoencoder",
    "build_sparse_autoencoder",
    "build_vae",
    "build_dcgan_discriminator",
    "build_dcgan_generator",
    "build_infogan_discriminator",
    "build_infogan_generator",
    "build_projection_head",
    "build_small_convnet",
]
