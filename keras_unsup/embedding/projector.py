"""Export of embeddings for TensorBoard's Embedding Projector.

`export_projector(embeddings, log_dir, images=..., labels=...)` writes, in `log_dir`:

- `<name>.tsv`: the embeddings, one tab-separated row per item (the projector's
  `tensor_path`, so no TensorFlow checkpoint is needed);
- `<name>_metadata.tsv`: one row per item: the label alone, or a header and columns
  (`label`, `class`, ...) when there is more than one;
- `<name>_sprite.png`: the images tiled row by row in a square grid, each cell
  `single_image_dim` pixels (thumbnails shrink so the sprite stays within 8192 px);
- `projector_config.pbtxt`: the `ProjectorConfig` text proto that points at them.

Several exports into one folder (one per epoch, say) are listed side by side in the
projector's drop-down; `keras_unsup_projector.json` remembers them. Open with
`tensorboard --logdir LOG_DIR` and pick the "Projector" tab.
"""

import json
import math
import re
from pathlib import Path

import numpy as np

CONFIG_NAME = "projector_config.pbtxt"
_REGISTRY = "keras_unsup_projector.json"
_MAX_SPRITE_PIXELS = 8192  # the projector's limit on a sprite's side


def _clean(value):
    return re.sub(r"[\t\r\n]+", " ", str(value))


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_tensor_name(tensor_name, name="tensor_name"):
    """Validates a projector tensor name (also the stem of its files) and returns it."""
    if not isinstance(tensor_name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", tensor_name):
        raise ValueError(
            f"`{name}` must be a non-empty name of letters, digits, '_', '.' or '-'. "
            f"Received: {name}={tensor_name!r}"
        )
    return tensor_name


def sprite_image(images, max_side=_MAX_SPRITE_PIXELS):
    """Images tiled into one square sprite: `(sprite uint8 array, (cell_w, cell_h))`.

    Args:
        images: `(n, h, w, c)` in [0, 1], c in {1, 3} (or `(n, h, w)`).
        max_side: the sprite's largest side in pixels; cells shrink to fit.
    """
    from PIL import Image

    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise ValueError(
            "`images` must be a non-empty batch of shape (n, height, width, 1 or 3). "
            f"Received: images.shape={images.shape}"
        )
    n, h, w, c = images.shape
    per_row = math.ceil(math.sqrt(n))
    scale = min(1.0, max_side / (per_row * max(h, w)))
    cell_h, cell_w = max(1, int(h * scale)), max(1, int(w * scale))
    pixels = np.rint(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    sprite = np.zeros((per_row * cell_h, per_row * cell_w, c), dtype=np.uint8)
    for i, image in enumerate(pixels):
        if (cell_h, cell_w) != (h, w):
            mode_image = Image.fromarray(image[..., 0] if c == 1 else image)
            image = np.asarray(mode_image.resize((cell_w, cell_h), Image.BILINEAR))
            image = image.reshape(cell_h, cell_w, c)
        r, col = divmod(i, per_row)
        sprite[r * cell_h:(r + 1) * cell_h, col * cell_w:(col + 1) * cell_w] = image
    return sprite, (cell_w, cell_h)


def _metadata_rows(n, labels, class_names, metadata):
    columns = {}
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != n:
            raise ValueError(f"`labels` must hold one label per embedding ({n}). Received: {len(labels)} labels")
        columns["label"] = [_clean(v) for v in labels.tolist()]
        if class_names is not None:
            names = []
            for v in labels.tolist():
                try:
                    names.append(_clean(class_names[v] if isinstance(class_names, dict)
                                        else class_names[int(v)]))
                except (KeyError, IndexError, ValueError, TypeError):
                    names.append(_clean(v))
            columns["class"] = names
    for key, values in (metadata or {}).items():
        values = list(values)
        if len(values) != n:
            raise ValueError(
                f"`metadata[{key!r}]` must hold one value per embedding ({n}). Received: {len(values)} values"
            )
        columns[_clean(key)] = [_clean(v) for v in values]
    if not columns:
        return None
    if len(columns) == 1:  # the projector reads a single column without a header
        return next(iter(columns.values()))
    keys = list(columns)
    return ["\t".join(keys)] + ["\t".join(columns[k][i] for k in keys) for i in range(n)]


def _config_text(entries):
    lines = []
    for e in entries:
        lines.append("embeddings {")
        lines.append(f"  tensor_name: {_quote(e['tensor_name'])}")
        lines.append(f"  tensor_path: {_quote(e['tensor_path'])}")
        lines.append(f"  tensor_shape: {e['tensor_shape'][0]}")
        lines.append(f"  tensor_shape: {e['tensor_shape'][1]}")
        if e.get("metadata_path"):
            lines.append(f"  metadata_path: {_quote(e['metadata_path'])}")
        if e.get("sprite"):
            lines.append("  sprite {")
            lines.append(f"    image_path: {_quote(e['sprite']['image_path'])}")
            for d in e["sprite"]["single_image_dim"]:
                lines.append(f"    single_image_dim: {int(d)}")
            lines.append("  }")
        lines.append("}")
    return "\n".join(lines) + "\n"


def export_projector(embeddings, log_dir, *, images=None, labels=None, class_names=None,
                     metadata=None, tensor_name="embedding", append=True):
    """Writes embeddings, sprite and metadata for TensorBoard's Embedding Projector.

    Args:
        embeddings: array `(n, d)` (other shapes are flattened per row).
        log_dir: folder to write into (TensorBoard's `--logdir` or a run inside it).
        images: optional images `(n, h, w, c)` in [0, 1] for the sprite.
        labels: optional labels `(n,)`.
        class_names: optional names of integer labels (sequence or dict), written as
            a `class` column.
        metadata: optional dict of further columns `{name: values}`, each of length n.
        tensor_name: the name shown in the projector; also the files' stem.
        append: keep other tensors already exported into `log_dir` (an export with
            the same name is replaced); `False` lists only this one.

    Returns:
        The path of `projector_config.pbtxt`.

    Example:

    >>> export_projector(codes, "logs/fashion", images=x_test, labels=y_test,
    ...                  class_names=data.class_names)
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim < 2 or len(embeddings) == 0:
        raise ValueError(
            f"`embeddings` must be a non-empty array (n, d). Received: embeddings.shape={embeddings.shape}"
        )
    embeddings = embeddings.reshape(len(embeddings), -1).astype(np.float32)
    if not np.all(np.isfinite(embeddings)):
        raise ValueError("`embeddings` must hold only finite values; it holds NaN or infinity.")
    n = len(embeddings)
    check_tensor_name(tensor_name)
    if images is not None and len(images) != n:
        raise ValueError(f"`images` must hold one image per embedding ({n}). Received: {len(images)} images")
    rows = _metadata_rows(n, labels, class_names, metadata)
    sprite = None
    if images is not None:
        sprite, cell = sprite_image(images)

    folder = Path(log_dir)
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"tensor_name": tensor_name, "tensor_path": f"{tensor_name}.tsv",
             "tensor_shape": [n, int(embeddings.shape[1])]}
    np.savetxt(folder / entry["tensor_path"], embeddings, delimiter="\t", fmt="%.7g")
    if rows is not None:
        entry["metadata_path"] = f"{tensor_name}_metadata.tsv"
        (folder / entry["metadata_path"]).write_text("\n".join(rows) + "\n", encoding="utf-8")
    if sprite is not None:
        from PIL import Image

        path = f"{tensor_name}_sprite.png"
        Image.fromarray(sprite[..., 0] if sprite.shape[-1] == 1 else sprite).save(folder / path)
        entry["sprite"] = {"image_path": path, "single_image_dim": list(cell)}

    registry = folder / _REGISTRY
    entries = []
    if append and registry.is_file():
        entries = [e for e in json.loads(registry.read_text()) if e["tensor_name"] != tensor_name]
    entries.append(entry)
    registry.write_text(json.dumps(entries, indent=2) + "\n")
    config = folder / CONFIG_NAME
    config.write_text(_config_text(entries))
    return config
