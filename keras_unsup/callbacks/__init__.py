"""Keras callbacks that draw and export what a model learns.

Every figure they make is written through `keras_unsup.viz.save_figure`.
"""

from keras_unsup.callbacks.embedding_projection import EmbeddingProjection
from keras_unsup.callbacks.gan_guard import GANGuard
from keras_unsup.callbacks.generated_images import GeneratedImages
from keras_unsup.callbacks.latent_traversal import LatentTraversal
from keras_unsup.callbacks.reconstruction_grid import ReconstructionGrid

__all__ = [
    "EmbeddingProjection",
    "GANGuard",
    "GeneratedImages",
    "LatentTraversal",
    "ReconstructionGrid",
]
