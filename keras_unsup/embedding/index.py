"""Similar-image retrieval: an index of L2-normalised codes searched by cosine similarity.

The index holds one float32 row per image (100,000 images of 128 dimensions take
51 MB) and answers queries block by block: each block of queries is multiplied by
the whole index and only its top k survive (`argpartition`), so memory stays at
`max_block_bytes` however many queries arrive. No `n x n` matrix is ever formed.

It is kept instead of scikit-learn's brute-force cosine `NearestNeighbors` because
`benchmarks/knn_index.py` finds the same neighbours faster (about as fast over 10,000
codes, 1.6-3x faster over 100,000 x 128; the figures are in the README).
"""

import json
from pathlib import Path

import numpy as np

from keras_unsup.checks import check_indices, check_int, check_positive_int
from keras_unsup.embedding.encoding import check_images, encode_images, expected_input_shape

_FORMAT = "keras_unsup.EmbeddingIndex"
_VERSION = 1
DEFAULT_BLOCK_BYTES = 64 * 2**20


def _normalise_rows(x):
    """Rows of `x` scaled to unit length, in place; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, np.maximum(norms, 1e-12), out=x)
    return x


def _check_codes(codes, name="embeddings", dim=None):
    codes = np.asarray(codes)
    if codes.ndim == 1 and dim is not None:
        codes = codes[None, :]
    if codes.ndim != 2 or len(codes) == 0 or codes.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 2-D array (n, dim). Received: {name}.shape={codes.shape}"
        )
    if dim is not None and codes.shape[1] != dim:
        raise ValueError(
            f"`{name}` must have the index's dimension {dim}. Received: {name}.shape={codes.shape}"
        )
    codes = np.array(codes, dtype=np.float32)  # a copy: normalised in place below
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"`{name}` must hold only finite values; it holds NaN or infinity.")
    return codes


def _check_labels(labels, n, name="labels"):
    if labels is None:
        return None
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != n:
        raise ValueError(
            f"`{name}` must have one label per embedding ({n}). Received: {len(labels)} labels"
        )
    return labels


def precision_at_k(neighbour_indices, index_labels, query_labels, k=None):
    """Mean fraction of each query's top-k neighbours that share its label.

    Args:
        neighbour_indices: int array `(m, >= k)`, neighbours best first (as
            `EmbeddingIndex.query` returns them).
        index_labels: labels of the indexed items, shape `(n,)`.
        query_labels: labels of the queries, shape `(m,)`.
        k: neighbours to score; `None` scores every column.

    Returns:
        Precision@k in [0, 1] as a float.

    Example:

    >>> precision_at_k([[1, 2], [0, 2]], index_labels=[0, 0, 1], query_labels=[0, 0])
    0.5
    """
    neighbours = np.asarray(neighbour_indices)
    if neighbours.ndim != 2 or neighbours.shape[1] == 0:
        raise ValueError(
            "`neighbour_indices` must be a 2-D array (queries, k). "
            f"Received: neighbour_indices.shape={neighbours.shape}"
        )
    index_labels = np.asarray(index_labels).reshape(-1)
    query_labels = np.asarray(query_labels).reshape(-1)
    if len(query_labels) != len(neighbours):
        raise ValueError(
            "`query_labels` must have one label per query row of `neighbour_indices` "
            f"({len(neighbours)}). Received: {len(query_labels)} labels"
        )
    if k is None:
        k = neighbours.shape[1]
    check_int(k, "k", 1, neighbours.shape[1])
    check_indices(neighbours, "neighbour_indices", len(index_labels), "index_labels")
    hits = index_labels[neighbours[:, :k]] == query_labels[:, None]
    return float(hits.mean())


class EmbeddingIndex:
    """Nearest neighbours by cosine similarity over the codes of a set of images.

    Build it from an encoder and images (`from_encoder`) or from codes you already
    have (the constructor). Rows are stored L2-normalised in float32, so the cosine
    similarity of two items is their dot product.

    Args:
        embeddings: codes of shape `(n, dim)`.
        labels: optional labels `(n,)`, for `precision_at_k` and figures.
        encoder: the encoder that made the codes, so that `query` can take images:
            a Keras model, a callable, or `None`.
        input_shape: per-image shape `query` accepts (taken from the encoder when
            it declares one).
        output_index: which encoder output is the code (VAE: 0, the mean).
        batch_size: images encoded at a time.
        max_block_bytes: memory bound of the similarity block of one query step.

    Attributes:
        embeddings: the normalised codes `(n, dim)` (read-only).
        labels: the labels or `None`.
        dim: code dimension.

    Example:

    >>> index = EmbeddingIndex.from_encoder(encoder, x_train, labels=y_train)
    >>> indices, similarities = index.query(x_test[:5], k=10)
    >>> index.precision_at_k(10)   # leave-one-out over the indexed images
    """

    def __init__(self, embeddings, labels=None, *, encoder=None, input_shape=None,
                 output_index=0, batch_size=256, max_block_bytes=DEFAULT_BLOCK_BYTES):
        check_positive_int(max_block_bytes, "max_block_bytes")
        check_positive_int(batch_size, "batch_size")
        codes = _check_codes(embeddings)
        self._embeddings = _normalise_rows(codes)
        self._embeddings.flags.writeable = False
        self.labels = _check_labels(labels, len(codes))
        self.encoder = encoder
        if input_shape is None and encoder is not None:
            input_shape = expected_input_shape(encoder)
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.output_index = int(output_index)
        self.batch_size = int(batch_size)
        self.max_block_bytes = int(max_block_bytes)

    @classmethod
    def from_encoder(cls, encoder, images, labels=None, *, batch_size=256, output_index=0,
                     show_progress=True, max_block_bytes=DEFAULT_BLOCK_BYTES):
        """Encodes `images` batch by batch (with a progress bar) and indexes the codes.

        Args:
            encoder: a Keras model, a callable on a NumPy batch, or `None` to index
                the raw pixels.
            images: array `(n, *input_shape)`.
            labels: optional labels `(n,)`.
            batch_size: images encoded at a time.
            output_index: which encoder output is the code.
            show_progress: a tqdm progress bar while encoding.
            max_block_bytes: memory bound of one query step.
        """
        check_positive_int(max_block_bytes, "max_block_bytes")
        expected = expected_input_shape(encoder)
        images = check_images(images, expected)
        labels = _check_labels(labels, len(images))
        codes = encode_images(encoder, images, batch_size=batch_size, output_index=output_index,
                              show_progress=show_progress)
        shape = expected if expected is not None else tuple(images.shape[1:])
        index = cls.__new__(cls)
        # The codes are fresh: normalise them in place instead of copying 51 MB again.
        index._embeddings = _normalise_rows(codes)
        index._embeddings.flags.writeable = False
        index.labels = labels
        index.encoder = encoder
        index.input_shape = shape
        index.output_index = int(output_index)
        index.batch_size = int(batch_size)
        index.max_block_bytes = int(max_block_bytes)
        index._raw_pixels = encoder is None
        return index

    # -- sizes --------------------------------------------------------------------------
    @property
    def embeddings(self):
        return self._embeddings

    @property
    def dim(self):
        return int(self._embeddings.shape[1])

    def __len__(self):
        return int(self._embeddings.shape[0])

    def __repr__(self):
        return (f"EmbeddingIndex(size={len(self)}, dim={self.dim}, "
                f"labels={'yes' if self.labels is not None else 'no'})")

    @property
    def _queries_images(self):
        return self.encoder is not None or getattr(self, "_raw_pixels", False)

    def _check_k(self, k, exclude_self=False):
        limit = len(self) - (1 if exclude_self else 0)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= limit:
            what = "the index size minus the query itself" if exclude_self else "the index size"
            raise ValueError(
                f"`k` must be an integer between 1 and {limit} ({what}). Received: k={k!r}"
            )
        return int(k)

    # -- queries ------------------------------------------------------------------------
    def query(self, images, k=10, *, show_progress=False):
        """The k most similar indexed items of each query image.

        Args:
            images: query images `(m, *input_shape)`, encoded like the index.
            k: neighbours per query, 1 to the index size.
            show_progress: a progress bar while encoding the queries.

        Returns:
            `(indices, similarities)`: int64 `(m, k)` positions in the index and
            float32 `(m, k)` cosine similarities, most similar first.
        """
        k = self._check_k(k)
        if not self._queries_images:
            raise ValueError(
                "`query` needs the encoder that made the index codes: pass `encoder=` when "
                "building or loading the index, or use `query_codes`. Received: an index without encoder"
            )
        images = check_images(images, self.input_shape)
        codes = encode_images(self.encoder, images, batch_size=self.batch_size,
                              output_index=self.output_index, show_progress=show_progress)
        return self.query_codes(codes, k)

    def query_codes(self, codes, k=10, *, exclude=None):
        """The k most similar indexed items of each query code.

        Args:
            codes: query codes `(m, dim)` (normalised here; any scale is fine).
            k: neighbours per query.
            exclude: optional int array `(m,)` of one index position per query to
                leave out (its own entry, for leave-one-out evaluation); -1 for none.

        Returns:
            `(indices, similarities)`, each `(m, k)`, most similar first.
        """
        k = self._check_k(k, exclude_self=exclude is not None)
        queries = _normalise_rows(_check_codes(codes, "codes", dim=self.dim))
        m, n = len(queries), len(self)
        if exclude is not None:
            exclude = np.asarray(exclude, dtype=np.int64).reshape(-1)
            if len(exclude) != m:
                raise ValueError(
                    f"`exclude` must hold one position per query ({m}). Received: {len(exclude)}"
                )
        # Rows of queries per step so that one step's temporaries fit the bound: the
        # (rows, n) float32 similarities, argpartition's int64 positions and its working
        # copy of the row: 16 bytes a cell.
        rows = max(1, min(m, self.max_block_bytes // (16 * n)))
        indices = np.empty((m, k), dtype=np.int64)
        similarities = np.empty((m, k), dtype=np.float32)
        for start in range(0, m, rows):
            stop = min(start + rows, m)
            block = queries[start:stop] @ self._embeddings.T
            if exclude is not None:
                own = exclude[start:stop]
                hit = own >= 0
                block[np.nonzero(hit)[0], own[hit]] = -np.inf
            if k < n:
                # The k largest sit after position n - k (no negated copy of the block).
                top = np.argpartition(block, n - k, axis=1)[:, n - k:]
            else:
                top = np.broadcast_to(np.arange(n), block.shape).copy()
            top_sim = np.take_along_axis(block, top, axis=1)
            # Best first; ties broken by position so results are reproducible.
            order = np.lexsort((top, -top_sim), axis=1)
            indices[start:stop] = np.take_along_axis(top, order, axis=1)
            similarities[start:stop] = np.take_along_axis(top_sim, order, axis=1)
        return indices, similarities

    # -- evaluation ---------------------------------------------------------------------
    def precision_at_k(self, k=10, images=None, labels=None):
        """Precision@k of retrieval, where labels exist.

        With no `images`, every indexed item queries the rest of the index
        (leave-one-out, its own entry excluded). With `images` and `labels`, those
        queries are scored against the indexed labels.
        """
        if self.labels is None:
            raise ValueError(
                "`precision_at_k` needs labels: build the index with `labels=`. "
                "Received: an index without labels"
            )
        if images is None:
            k = self._check_k(k, exclude_self=True)
            indices, _ = self.query_codes(self._embeddings, k, exclude=np.arange(len(self)))
            return precision_at_k(indices, self.labels, self.labels)
        if labels is None:
            raise ValueError("`labels` must be given with `images`. Received: labels=None")
        k = self._check_k(k)
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(images):
            raise ValueError(
                f"`labels` must have one label per query image ({len(images)}). Received: {len(labels)}"
            )
        indices, _ = self.query(images, k)
        return precision_at_k(indices, self.labels, labels)

    # -- persistence --------------------------------------------------------------------
    def save(self, path, *, include_encoder=True):
        """Writes the index into folder `path`: `embeddings.npz`, `index.json` and,
        when the encoder is a Keras model and `include_encoder`, `encoder.keras`."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"embeddings": self._embeddings}
        if self.labels is not None:
            arrays["labels"] = self.labels
        np.savez(folder / "embeddings.npz", **arrays)
        encoder_kind = "raw_pixels" if getattr(self, "_raw_pixels", False) else None
        if self.encoder is not None:
            encoder_kind = "callable"
            if include_encoder and hasattr(self.encoder, "save") and hasattr(self.encoder, "get_config"):
                self.encoder.save(folder / "encoder.keras")
                encoder_kind = "keras"
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "size": len(self),
            "dim": self.dim,
            "input_shape": None if self.input_shape is None else
            [None if s is None else int(s) for s in self.input_shape],
            "output_index": self.output_index,
            "batch_size": self.batch_size,
            "encoder": encoder_kind,
            "has_labels": self.labels is not None,
        }
        (folder / "index.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, path, *, encoder=None, max_block_bytes=DEFAULT_BLOCK_BYTES):
        """Reads an index written by `save`.

        Args:
            path: the folder `save` wrote.
            encoder: the encoder for image queries; by default the saved
                `encoder.keras` is loaded when there is one.
            max_block_bytes: memory bound of one query step.
        """
        folder = Path(path)
        meta_path = folder / "index.json"
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"No embedding index in {folder}: expected {meta_path} and embeddings.npz "
                "(written by EmbeddingIndex.save)."
            )
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{meta_path} is not an EmbeddingIndex file. Received: format={meta.get('format')!r}")
        with np.load(folder / "embeddings.npz", allow_pickle=False) as arrays:
            embeddings = np.array(arrays["embeddings"], dtype=np.float32)
            labels = np.array(arrays["labels"]) if "labels" in arrays.files else None
        if encoder is None and meta.get("encoder") == "keras":
            import keras

            import keras_unsup.layers  # noqa: F401  registers our layers for safe loading

            encoder = keras.saving.load_model(folder / "encoder.keras")
        index = cls.__new__(cls)
        index._embeddings = embeddings  # stored normalised already
        index._embeddings.flags.writeable = False
        index.labels = labels
        index.encoder = encoder
        shape = meta.get("input_shape")
        index.input_shape = None if shape is None else tuple(shape)
        if encoder is not None and expected_input_shape(encoder) is not None:
            index.input_shape = expected_input_shape(encoder)
        index.output_index = int(meta.get("output_index", 0))
        index.batch_size = int(meta.get("batch_size", 256))
        index.max_block_bytes = int(max_block_bytes)
        index._raw_pixels = meta.get("encoder") == "raw_pixels"
        return index
