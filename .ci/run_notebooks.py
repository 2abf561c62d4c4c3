"""Executes notebooks top to bottom (a folder's, or the files given); fails on the first error.

    python .ci/run_notebooks.py notebooks                      # every notebook
    KERAS_UNSUP_QUICK=1 python .ci/run_notebooks.py notebooks/02_vae.ipynb   # one, quick mode
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(*targets):
    paths = []
    for target in targets or ("notebooks",):
        target = Path(target)
        paths += sorted(target.glob("*.ipynb")) if target.is_dir() else [target]
    if not paths:
        print(f"no notebooks in {', '.join(targets)}")
        return 0
    for path in paths:
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        print(f"notebook {path.name}: ok in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
