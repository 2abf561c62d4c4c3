"""Datasets (offline-first), folder streams, in-graph augmentation and tf.data pipelines."""

from keras_unsup.data.augment import NumpyAugmenter, SaltAndPepper
from keras_unsup.data.datasets import Dataset, DatasetNotFoundError, load_dataset
from keras_unsup.data.folder import FolderDataset
from keras_unsup.data.pipeline import autoencoder_dataset, image_dataset
