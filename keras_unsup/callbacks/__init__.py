"""Keras callbacks that draw and export what a model learns."""

from keras_unsup.callbacks.latent_projection import LatentProjection
from keras_unsup.callbacks.gan_guard import GANGuard  # noqa: F401
from keras_unsup.callbacks.generated_images import GeneratedImages  # noqa: F401
from keras_unsup.callbacks.latent_traversal import LatentTraversal  # noqa: F401
from keras_unsup.callbacks.reconstruction_grid import ReconstructionGrid

__all__ = ["LatentProjection", "ReconstructionGrid"]
