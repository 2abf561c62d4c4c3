"""k-means on the codes of trained autoencoders: how much the codes' scaling matters.

Loads the encoders that `benchmarks/autoencoders.py` saved in its run folders and
clusters the test images' codes with k-means (10 initialisations each) for several
k-means seeds, on raw, L2-normalised and standardised codes. Reports each seed's
ACC/NMI/ARI and the median. No training happens here.

    python benchmarks/autoencoder_codes_kmeans.py --runs runs/bench-ae \
        --out benchmarks/results/autoencoder_codes_kmeans_fashion_mnist.json
"""

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--runs", default="runs/bench-ae")
    parser.add_argument("--methods", default="dense-ae,sparse-ae,denoising-ae,vae")
    parser.add_argument("--kmeans-seeds", default="0,1,2,3,4")
    parser.add_argument("--out", default="benchmarks/results/autoencoder_codes_kmeans_fashion_mnist.json")
    args = parser.parse_args(argv)

    import keras

    import keras_unsup  # noqa: F401  (registers our layers for loading)
    from keras_unsup.data import load_dataset
    from keras_unsup.evaluation import kmeans_scores
    from keras_unsup.recipes.base import write_json
    from keras_unsup.recipes.common import encode

    data = load_dataset(args.dataset)
    seeds = [int(s) for s in args.kmeans_seeds.split(",")]
    result = {"dataset": data.name, "n_test": len(data.x_test), "kmeans_seeds": seeds,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
              "command": "python " + shlex.join(sys.argv), "methods": {}}
    for method in args.methods.split(","):
        path = Path(args.runs) / f"{method}-seed0" / "encoder.keras"
        if not path.is_file():
            print(f"skip {method}: no {path}")
            continue
        codes = encode(keras.saving.load_model(path), data.x_test)
        entry = {}
        for normalize in (None, "l2", "standard"):
            runs = [kmeans_scores(codes, data.y_test, 10, seed=s, normalize=normalize)[0]
                    for s in seeds]
            entry[str(normalize or "raw")] = {
                "runs": runs,
                "median": {k: float(np.median([r[k] for r in runs])) for k in ("acc", "nmi", "ari")},
            }
            print(method, normalize or "raw", entry[str(normalize or "raw")]["median"], flush=True)
        result["methods"][method] = entry
    write_json(args.out, result)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
