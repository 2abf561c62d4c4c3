"""The SCAE's object capsules studied alone, on part capsules cached from a trained SCAE; writes JSON.

In the SCAE the OCAE sees the parts through a stop-gradient, so the PCAE learns nothing
from it: an OCAE trained on the part capsules of a trained PCAE meets the same problem
as in joint training, at about a third of the step's cost. This script loads a saved
SCAE (`model.keras` of a run folder), caches what its OCAE sees of the training images
(`--placements` random placements on the canvas each) and of the centred test images,
trains a fresh OCAE with the recipe's settings (and `--set` changes) for `--steps`, and
records every `--eval-every` steps:

- `acc`, `nmi`: k-means on the test images' object presences (Hungarian matching);
- `posterior_acc`: the same on the posterior presences;
- `presence_spread`: the mean over capsules of the presences' std over test images;
- `vote_error`: mean absolute error of each part's most responsible vote, against
  `pose_std`, the parts' own std over the test images (a vote that ignores the image
  has an error near it);
- the training loss and part log-likelihood.

Make a model first, e.g. `python benchmarks/scae.py --dataset digits --upsample 3
--budget-s 800 --name lab_base`, then:

    python benchmarks/scae_cached_ocae.py --model runs/bench-scae-lab_base/model.keras \
        --dataset digits --upsample 3 --name digits_plain
    python benchmarks/scae_cached_ocae.py --model runs/bench-scae-lab_base/model.keras \
        --dataset digits --upsample 3 --set part_normalization=true --name digits_normalized

Results go to `benchmarks/results/scae_cached_ocae_<name>.json`.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from scae import _command, _machine, upsampled

ROOT = Path(__file__).resolve().parent
OCAE_OPTIONS = ("object_pooling", "object_masking", "part_normalization", "learning_rate",
                "prior_within_constant")


def cache_parts(model, x, training, batch_size=256):
    """What the SCAE's OCAE sees of images `x`: `(inputs (n, M, d), presence (n, M))`."""
    inputs, presence = [], []
    for i in range(0, len(x), batch_size):
        canvas = model.pcae.place(x[i:i + batch_size], training)
        parts = model.pcae.parts(canvas, training=False)
        inputs.append(np.asarray(model.ocae_inputs(parts)))
        presence.append(np.asarray(parts["presence"]))
    return np.concatenate(inputs), np.concatenate(presence)


def fresh_ocae(model, settings, seed):
    """An untrained OCAE shaped as `model`'s, with the recipe's `settings`."""
    import keras

    from keras_unsup.recipes.capsules import build_scae

    t = model.pcae.templates
    scae = build_scae(tuple(model.pcae.image_shape), part_capsules=model.pcae.n_parts,
                      object_capsules=model.ocae.n_objects, template_size=t.template_size[0],
                      canvas_size=t.canvas_size[0],
                      special_features=model.pcae.part_encoder.output_shape[2][-1],
                      object_features=model.ocae.object_encoder.get_layer(
                          "object_capsules").n_features,
                      object_pooling=settings["object_pooling"],
                      object_masking=settings["object_masking"],
                      part_normalization=settings["part_normalization"],
                      prior_within_constant=settings["prior_within_constant"],
                      n_classes=model.ocae.n_classes, seed=seed)
    ocae = scae.ocae
    ocae.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"], clipnorm=5.0))
    return ocae


def scores(ocae, inputs, presence, labels, n_classes, seed):
    """The readouts of the OCAE on cached test parts (see the module's docstring)."""
    from keras_unsup.evaluation.metrics import kmeans_scores

    target = inputs[..., :6]
    objects = ocae.objects(inputs, presence)
    _, posterior = ocae.part_log_likelihood(target, presence, objects)
    posterior = np.asarray(posterior)
    prior = np.asarray(objects["object_presence"])
    votes = np.asarray(objects["votes"])
    best = posterior.argmax(axis=1)  # (n, M)
    chosen = np.take_along_axis(votes, best[:, None, :, None], axis=1)[:, 0]
    prior_scores, _ = kmeans_scores(prior, labels, n_classes, seed=seed)
    post_scores, _ = kmeans_scores(posterior.sum(axis=2) / target.shape[1], labels, n_classes,
                                   seed=seed)
    return {"acc": prior_scores["acc"], "nmi": prior_scores["nmi"],
            "posterior_acc": post_scores["acc"],
            "presence_spread": float(prior.std(axis=0).mean()),
            "mean_presence": float(prior.mean()),
            "vote_error": float(np.abs(chosen - target).mean()),
            "pose_std": float(target.std(axis=0).mean())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a saved SCAE (model.keras)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--upsample", type=int, default=1)
    parser.add_argument("--placements", type=int, default=4,
                        help="random placements of each training image")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"an scae option of the OCAE ({', '.join(OCAE_OPTIONS)})")
    parser.add_argument("--name", required=True, help="results/scae_cached_ocae_<name>.json")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from keras_unsup.data import load_dataset
    from keras_unsup.recipes import get_recipe
    from keras_unsup.recipes.base import write_json
    from keras_unsup.recipes.options import parse_set_flags, resolve_options

    changes = parse_set_flags(args.set)
    unknown = sorted(set(changes) - set(OCAE_OPTIONS))
    if unknown:
        parser.error(f"--set takes the OCAE's options {list(OCAE_OPTIONS)}. Received: {unknown}")
    settings = resolve_options(get_recipe("scae"), changes, flag="--set", from_text=True)
    data = load_dataset(args.dataset, seed=0)
    if args.upsample > 1:
        data = upsampled(data, args.upsample)
    model = keras.saving.load_model(args.model, safe_mode=True)
    keras.utils.set_random_seed(args.seed)
    cached = [cache_parts(model, data.x_train, True) for _ in range(args.placements)]
    x_train = np.concatenate([c[0] for c in cached])
    p_train = np.concatenate([c[1] for c in cached])
    x_test, p_test = cache_parts(model, data.x_test, False)
    ocae = fresh_ocae(model, settings, args.seed)
    ds = tf.data.Dataset.from_tensor_slices((x_train, p_train))
    ds = ds.shuffle(len(x_train), seed=args.seed).repeat()
    ds = ds.batch(args.batch_size, drop_remainder=True)
    iterator = iter(ds)  # one pass through the shuffled stream across evaluations
    n_classes = data.n_classes or 10
    rows, start = [], time.perf_counter()
    for done in range(args.eval_every, args.steps + 1, args.eval_every):
        for _ in range(args.eval_every):
            logs = ocae.train_on_batch(*next(iterator), return_dict=True)
        row = {"step": done, "seconds": time.perf_counter() - start,
               "loss": float(logs["loss"]), "part_ll": float(logs["part_ll"])}
        row.update(scores(ocae, x_test, p_test, data.y_test, n_classes, args.seed))
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()},
              flush=True)
    payload = {"command": _command(), "machine": _machine(), "model": args.model,
               "dataset": data.name, "n_train": int(data.n_train), "n_test": int(data.n_test),
               "placements": args.placements, "batch_size": args.batch_size,
               "ocae_settings": {k: settings[k] for k in OCAE_OPTIONS},
               "part_presence_mean": float(p_train.mean()), "rows": rows}
    path = ROOT / "results" / f"scae_cached_ocae_{args.name}.json"
    write_json(path, payload)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
