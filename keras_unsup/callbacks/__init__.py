"""Keras callbacks that draw and export what a model learns."""

from keras_unsup.callbacks.embedding_projector import EmbeddingProjector
from keras_unsup.callbacks.gan_guard import GANGuard
from keras_unsup.callbacks.generated_images import GeneratedImages
from keras_unsup.callbacks.latent_projection import LatentProjection
from keras_unsup.callbacks.latent_traversal import LatentTraversal
from keras_unsup.callbacks.projection import EmbeddingProjection
from keras_unsup.callbacks.reconstruction_grid import ReconstructionGrid

__all__ = [
    "EmbeddingProjection",
    "EmbeddingProjector",
    "GANGuard",
    "GeneratedImages",
    "LatentProjection",
    "LatentTraversal",
    "ReconstructionGrid",
]
