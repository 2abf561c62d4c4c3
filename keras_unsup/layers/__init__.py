"""Custom Keras layers, one class per file, all registered for serialization."""

from keras_unsup.layers.affine_templates import AffineTemplates
from keras_unsup.layers.clustering_layer import ClusteringLayer
from keras_unsup.layers.info_nce import InfoNCE
from keras_unsup.layers.kl_divergence import KLDivergence
from keras_unsup.layers.memory_bank import MemoryBank
from keras_unsup.layers.multihead_attention_block import MultiheadAttentionBlock
from keras_unsup.layers.object_capsule_votes import ObjectCapsuleVotes
from keras_unsup.layers.part_capsule_head import PartCapsuleHead
from keras_unsup.layers.sampling import Sampling
from keras_unsup.layers.set_transformer import SetTransformer

__all__ = ["AffineTemplates", "ClusteringLayer", "InfoNCE", "KLDivergence", "MemoryBank",
           "MultiheadAttentionBlock", "ObjectCapsuleVotes", "PartCapsuleHead", "Sampling",
           "SetTransformer"]
