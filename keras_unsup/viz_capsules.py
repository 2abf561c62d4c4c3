"""Figures of the Stacked Capsule Autoencoder: templates, parts on reconstructions, objects.

Like `keras_unsup.viz`, every function returns a `Figure` drawn through pyplot (imported
on first use) and writes no file: pass it to `viz.save_figure`.
"""

import numpy as np

from keras_unsup import viz


def plot_templates(templates, presence=None, ncols=10):
    """The learned templates `(M, h, w, c)` in a grid, titled by their mean presence
    `(M,)` over some images when given."""
    templates = np.asarray(templates)
    titles = None if presence is None else [f"{p:.2f}" for p in np.asarray(presence)]
    return viz.image_grid(templates, ncols=min(ncols, len(templates)), titles=titles)


def part_outlines(pose, template_size, canvas_size):
    """Canvas pixel coordinates `(M, 5, 2)` (x, y; closed) of each transformed template's
    border, for poses `(M, 6)` (see `keras_unsup.layers.affine_templates`)."""
    pose = np.asarray(pose, np.float64)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], np.float64)
    a, b, tx, c, d, ty = (pose[:, i:i + 1] for i in range(6))
    x = a * corners[:, 0] + b * corners[:, 1] + tx
    y = c * corners[:, 0] + d * corners[:, 1] + ty
    height, width = canvas_size
    return np.stack([(x + 1) * (width - 1) / 2, (y + 1) * (height - 1) / 2], axis=-1)


def plot_part_reconstructions(canvases, reconstructions, poses, presences, template_size,
                              threshold=0.5, n=8):
    """Inputs (top row) and reconstructions (bottom row) with the outline of every part
    whose presence exceeds `threshold` drawn over the reconstruction, one colour per
    part capsule."""
    plt = viz.pyplot()
    n = min(n, len(canvases))
    canvas_size = np.asarray(canvases).shape[1:3]
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.4), squeeze=False)
    colours = plt.get_cmap("tab20")
    for i in range(n):
        for row, images in enumerate((canvases, reconstructions)):
            ax = axes[row, i]
            ax.imshow(np.clip(np.asarray(images[i])[..., 0], 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        outlines = part_outlines(poses[i], template_size, canvas_size)
        for m, (outline, p) in enumerate(zip(outlines, presences[i])):
            if p > threshold:
                axes[1, i].plot(outline[:, 0], outline[:, 1], color=colours(m % 20),
                                linewidth=0.8, alpha=float(min(1.0, p)))
        axes[1, i].set_xlim(-0.5, canvas_size[1] - 0.5)
        axes[1, i].set_ylim(canvas_size[0] - 0.5, -0.5)
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("parts")
    fig.tight_layout()
    return fig


def plot_presence_by_class(presence, labels, class_names=None, title=None):
    """Mean presence of each object capsule (columns) per true class (rows)."""
    plt = viz.pyplot()
    presence, labels = np.asarray(presence), np.asarray(labels)
    classes = np.unique(labels)
    table = np.stack([presence[labels == c].mean(axis=0) for c in classes])
    fig, ax = plt.subplots(figsize=(0.35 * presence.shape[1] + 2, 0.35 * len(classes) + 1.5))
    image = ax.imshow(table, cmap="viridis", vmin=0, vmax=max(float(table.max()), 1e-6),
                      aspect="auto")
    ax.set_yticks(range(len(classes)))
    ax.set_yticklabels([viz.class_name(class_names, c) for c in classes])
    ax.set_xlabel("object capsule")
    ax.set_ylabel("true class")
    ax.set_title(title or "mean object-capsule presence per class")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def plot_constellations(points, assigned, labels=None, n=8):
    """Point sets coloured by the object that explains each point; marker by true shape."""
    plt = viz.pyplot()
    n = min(n, len(points))
    fig, axes = plt.subplots(1, n, figsize=(2 * n, 2.2), squeeze=False)
    markers = "os^Dv"
    colours = plt.get_cmap("tab10")
    for i in range(n):
        ax = axes[0, i]
        for j, (x, y) in enumerate(points[i]):
            marker = markers[int(labels[i][j]) % len(markers)] if labels is not None else "o"
            ax.scatter([x], [y], color=colours(int(assigned[i][j]) % 10), marker=marker, s=30)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("colour: object capsule; marker: true shape")
    fig.tight_layout()
    return fig


__all__ = ["part_outlines", "plot_constellations", "plot_part_reconstructions",
           "plot_presence_by_class", "plot_templates"]
