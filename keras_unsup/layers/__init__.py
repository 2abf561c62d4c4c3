"""Custom Keras layers, one class per file, all registered for serialization."""

from keras_unsup.layers.clustering_layer import ClusteringLayer
from keras_unsup.layers.info_nce import InfoNCE
from keras_unsup.layers.kl_divergence import KLDivergence
from keras_unsup.layers.sampling import Sampling

__all__ = ["ClusteringLayer", "InfoNCE", "KLDivergence", "Sampling"]
