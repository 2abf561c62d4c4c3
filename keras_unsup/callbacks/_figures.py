"""What the drawing callbacks share: argument checks and saving or showing a figure."""

from pathlib import Path

import numpy as np


def check_every(every):
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"`every` must be an integer >= 1. Received: every={every!r}")
    return int(every)


def check_show(show):
    if show:
        try:
            import IPython.display  # noqa: F401
        except ImportError as error:
            raise ImportError("`show=True` draws into a notebook and needs IPython.") from error
    return bool(show)


def emit_figure(fig, output_dir, filename, show):
    """Saves `fig` as `output_dir/filename` and/or shows it inline, then closes it.

    Returns:
        The saved path, or `None` when `output_dir` is `None`.
    """
    import matplotlib.pyplot as plt

    from keras_unsup import viz

    path = None
    try:
        if output_dir is not None:
            path = viz.save_figure(fig, Path(output_dir) / filename)
        if show:
            viz._display_inline(fig)
    finally:
        plt.close(fig)  # also keeps a notebook's inline backend from drawing it twice
    return path
