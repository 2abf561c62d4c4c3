"""Uniform evaluation: cluster accuracy, NMI, ARI, linear probe and kNN accuracy."""

from keras_unsup.evaluation.frechet import ClassifierFrechetDistance, frechet_distance  # noqa: F401
from keras_unsup.evaluation.metrics import (
    ari,
    cluster_accuracy,
    clustering_scores,
    kmeans_scores,
    knn_accuracy,
    linear_probe_accuracy,
    nmi,
)
