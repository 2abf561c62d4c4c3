"""What to do with codes once an encoder makes them.

- `EmbeddingIndex`: similar-image retrieval by cosine similarity, memory-bounded,
  saved and loaded; `precision_at_k` scores it where labels exist.
- `project_embeddings`: 2-D maps of the codes by t-SNE, UMAP or PCA.
- `export_projector`: embeddings, a sprite and label metadata in the layout of
  TensorBoard's Embedding Projector.
- `CodeQuantizer`, `compression_report`, `rate_distortion`: send a small code
  instead of the image and measure what that costs in PSNR.

Plots of these (neighbour grids, rate-distortion curves) live in
`keras_unsup.embedding.plots`, the one module here that imports matplotlib.
"""

from keras_unsup.embedding.compression import (
    CodeQuantizer,
    compression_report,
    png_bytes_per_image,
    psnr,
    rate_distortion,
)
from keras_unsup.embedding.encoding import encode_images
from keras_unsup.embedding.index import EmbeddingIndex, precision_at_k
from keras_unsup.embedding.projection import project_embeddings
from keras_unsup.embedding.projector import export_projector

__all__ = [
    "CodeQuantizer",
    "EmbeddingIndex",
    "compression_report",
    "encode_images",
    "export_projector",
    "png_bytes_per_image",
    "precision_at_k",
    "project_embeddings",
    "psnr",
    "rate_distortion",
]
