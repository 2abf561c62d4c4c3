"""keras_unsup: unsupervised deep learning on images, in Keras 3.

The public API is re-exported here and loaded on first use, so that `import
keras_unsup` (and the command line) stays fast and TensorFlow starts only when a
model, layer or pipeline is first touched.

Example:

>>> import keras_unsup as ku
>>> data = ku.load_dataset("digits")
>>> vae, encoder, decoder = ku.build_vae(input_shape=data.image_shape, latent_dim=2)
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # data
    "Dataset": "keras_unsup.data.datasets",
    "DatasetNotFoundError": "keras_unsup.data.datasets",
    "load_dataset": "keras_unsup.data.datasets",
    "SaltAndPepper": "keras_unsup.data.augment",
    "NumpyAugmenter": "keras_unsup.data.augment",
    "image_dataset": "keras_unsup.data.pipeline",
    "autoencoder_dataset": "keras_unsup.data.pipeline",
    # evaluation
    "cluster_accuracy": "keras_unsup.evaluation.metrics",
    "nmi": "keras_unsup.evaluation.metrics",
    "ari": "keras_unsup.evaluation.metrics",
    "linear_probe_accuracy": "keras_unsup.evaluation.metrics",
    "knn_accuracy": "keras_unsup.evaluation.metrics",
    "clustering_scores": "keras_unsup.evaluation.metrics",
    "kmeans_scores": "keras_unsup.evaluation.metrics",
    # layers
    "KLDivergence": "keras_unsup.layers.kl_divergence",
    "Sampling": "keras_unsup.layers.sampling",
    # builders
    "build_dense_autoencoder": "keras_unsup.builders.autoencoder",
    "build_sparse_autoencoder": "keras_unsup.builders.autoencoder",
    "build_conv_denoising_autoencoder": "keras_unsup.builders.autoencoder",
    "build_vae": "keras_unsup.builders.autoencoder",
    # callbacks
    "ReconstructionGrid": "keras_unsup.callbacks.reconstruction_grid",
    "LatentProjection": "keras_unsup.callbacks.latent_projection",
    # recipes
    "run_recipe": "keras_unsup.recipes",
    "list_recipes": "keras_unsup.recipes",
}


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_unsup' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
