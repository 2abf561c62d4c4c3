"""What the self-supervised backbone can reach WITH labels: the ceiling for its probes.

Trains the default small ConvNet of the self-supervised recipes (2 conv, 1 max-pool,
1 dense, 128-d) with a softmax on top, on the labelled training images, and records
the test accuracy after every epoch. A linear probe on frozen self-supervised
embeddings of the same backbone is expected to land below this supervised figure,
so it tells how far a probe target is from what the architecture allows.

    python benchmarks/backbone_ceiling.py \
        --dataset fashion_mnist --epochs 10
"""

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="results JSON path")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1. Received: {args.epochs}")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    from keras_unsup.builders.backbones import build_small_convnet
    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import get_recipe
    from keras_unsup.recipes.base import write_json

    keras.utils.set_random_seed(args.seed)
    data = load_dataset(args.dataset)
    embedding_dim = next(o.default for o in get_recipe("moco").options
                         if o.name == "embedding_dim")
    encoder = build_small_convnet(data.image_shape, embedding_dim=embedding_dim)
    images = keras.Input(data.image_shape)
    logits = keras.layers.Dense(data.n_classes)(keras.layers.ReLU()(encoder(images)))
    model = keras.Model(images, logits)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    out = Path(args.out or ROOT / "benchmarks" / "results" /
               f"backbone_ceiling_{args.dataset}.json")
    payload = {
        "benchmark": "backbone_ceiling",
        "command": "python benchmarks/backbone_ceiling.py "
                   + shlex.join(argv if argv is not None else sys.argv[1:]),
        "dataset": args.dataset, "n_train": len(data.x_train), "n_test": len(data.x_test),
        "backbone": "small ConvNet (2 conv, 1 max-pool, 1 dense 128) + ReLU + softmax",
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "tensorflow": tf.__version__, "keras": keras.__version__},
        "test_accuracy_by_epoch": [],
    }
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.fit(data.x_train, data.y_train, batch_size=args.batch_size, epochs=1, verbose=0)
        accuracy = float(model.evaluate(data.x_test, data.y_test, verbose=0)[1])
        payload["test_accuracy_by_epoch"].append(accuracy)
        payload["wall_time_s"] = time.perf_counter() - start
        write_json(out, payload)
        print(f"epoch {epoch}: test accuracy {accuracy:.4f}", flush=True)
    payload["best_test_accuracy"] = max(payload["test_accuracy_by_epoch"])
    write_json(out, payload)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
