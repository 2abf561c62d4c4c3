"""keras_unsup: unsupervised deep learning on images, in Keras 3.

The public API is re-exported here and loaded on first use. Every layer and model of
ours is registered with Keras' serialization as soon as Keras is loaded, so saved
`.keras` files load with `keras.saving.load_model` after a plain `import keras_unsup`.
The import itself loads neither TensorFlow nor matplotlib nor scikit-learn.

Example:

>>> import keras_unsup as ku
>>> data = ku.load_dataset("digits")
>>> vae, encoder, decoder = ku.build_vae(input_shape=data.image_shape, latent_dim=2)
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # data
    "Dataset": "keras_unsup.data.datasets",
    "DatasetNotFoundError": "keras_unsup.data.datasets",
    "load_dataset": "keras_unsup.data.datasets",
    "FolderDataset": "keras_unsup.data.folder",
    "UnsafePickleError": "keras_unsup.data.safe_pickle",
    "SaltAndPepper": "keras_unsup.data.augment",
    "NumpyAugmenter": "keras_unsup.data.augment",
    "image_dataset": "keras_unsup.data.pipeline",
    "autoencoder_dataset": "keras_unsup.data.pipeline",
    # evaluation
    "cluster_accuracy": "keras_unsup.evaluation.metrics",
    "nmi": "keras_unsup.evaluation.metrics",
    "ari": "keras_unsup.evaluation.metrics",
    "linear_probe_accuracy": "keras_unsup.evaluation.metrics",
    "knn_accuracy": "keras_unsup.evaluation.metrics",
    "clustering_scores": "keras_unsup.evaluation.metrics",
    "kmeans_scores": "keras_unsup.evaluation.metrics",
    "match_clusters": "keras_unsup.evaluation.metrics",
    "frechet_distance": "keras_unsup.evaluation.frechet",
    "ClassifierFrechetDistance": "keras_unsup.evaluation.frechet",
    # layers
    "KLDivergence": "keras_unsup.layers.kl_divergence",
    "Sampling": "keras_unsup.layers.sampling",
    "ClusteringLayer": "keras_unsup.layers.clustering_layer",
    "target_distribution": "keras_unsup.layers.clustering_layer",
    "DEC": "keras_unsup.models.dec",
    "IDEC": "keras_unsup.models.dec",
    "DECClustering": "keras_unsup.models.dec_clustering",
    # builders
    "build_dense_autoencoder": "keras_unsup.builders.autoencoder",
    "build_sparse_autoencoder": "keras_unsup.builders.autoencoder",
    "build_conv_denoising_autoencoder": "keras_unsup.builders.autoencoder",
    "build_conv_autoencoder": "keras_unsup.builders.autoencoder",
    "build_vae": "keras_unsup.builders.autoencoder",
    "build_dcgan_generator": "keras_unsup.builders.gan",
    "build_dcgan_discriminator": "keras_unsup.builders.gan",
    "build_infogan_generator": "keras_unsup.builders.gan",
    "build_infogan_discriminator": "keras_unsup.builders.gan",
    "build_began_generator": "keras_unsup.builders.gan",
    "build_began_discriminator": "keras_unsup.builders.gan",
    "GAN": "keras_unsup.models.gan",
    "InfoGAN": "keras_unsup.models.infogan",
    "WGANGP": "keras_unsup.models.wgan_gp",
    "RBM": "keras_unsup.models.rbm",
    "DBN": "keras_unsup.models.dbn",
    "BEGAN": "keras_unsup.models.began",
    "check_images": "keras_unsup.checks",
    "bernoulli_nll": "keras_unsup.losses",
    "BernoulliNLL": "keras_unsup.losses",
    # callbacks
    "ReconstructionGrid": "keras_unsup.callbacks.reconstruction_grid",
    "GeneratedImages": "keras_unsup.callbacks.generated_images",
    "LatentTraversal": "keras_unsup.callbacks.latent_traversal",
    "latent_traversal_figure": "keras_unsup.callbacks.latent_traversal",
    "GANGuard": "keras_unsup.callbacks.gan_guard",
    "TargetDistributionRefresh": "keras_unsup.callbacks.target_distribution_refresh",
    "EmbeddingProjection": "keras_unsup.callbacks.embedding_projection",
    # embedding tools
    "EmbeddingIndex": "keras_unsup.embedding.index",
    "precision_at_k": "keras_unsup.embedding.index",
    "encode_images": "keras_unsup.embedding.encoding",
    "project_embeddings": "keras_unsup.embedding.projection",
    "export_projector": "keras_unsup.embedding.projector",
    "CodeQuantizer": "keras_unsup.embedding.compression",
    "rate_distortion": "keras_unsup.embedding.compression",
    "compression_report": "keras_unsup.embedding.compression",
    # viz
    "image_grid": "keras_unsup.viz",
    "plot_reconstructions": "keras_unsup.viz",
    "plot_latent": "keras_unsup.viz",
    "plot_confusion_matrix": "keras_unsup.viz",
    "plot_history": "keras_unsup.viz",
    "save_figure": "keras_unsup.viz",
    # self-supervised
    "ContrastiveAugmentation": "keras_unsup.data.views",
    "RandomResizedCrop": "keras_unsup.data.views",
    "RandomAffine": "keras_unsup.data.views",
    "RandomBrightnessContrast": "keras_unsup.data.views",
    "RandomGaussianNoise": "keras_unsup.data.views",
    "two_view_dataset": "keras_unsup.data.views",
    "InfoNCE": "keras_unsup.layers.info_nce",
    "info_nce_loss": "keras_unsup.layers.info_nce",
    "nt_xent_loss": "keras_unsup.layers.info_nce",
    "build_small_convnet": "keras_unsup.builders.backbones",
    "build_projection_head": "keras_unsup.builders.backbones",
    "MoCo": "keras_unsup.models.moco",
    "SimCLR": "keras_unsup.models.simclr",
    "ContrastiveClustering": "keras_unsup.models.contrastive_clustering",
    "cluster_contrastive_loss": "keras_unsup.losses",
    "assignment_entropy": "keras_unsup.losses",
    "RotNet": "keras_unsup.models.rotnet",
    "PatchGrid": "keras_unsup.data.patches",
    "build_tile_encoder": "keras_unsup.builders.tiles",
    "build_tiled_encoder": "keras_unsup.builders.tiles",
    "RelativePosition": "keras_unsup.models.relative_position",
    "Jigsaw": "keras_unsup.models.jigsaw",
    "maximal_hamming_permutations": "keras_unsup.models.jigsaw",
    "ContextEncoder": "keras_unsup.models.context_encoder",
    "Counting": "keras_unsup.models.counting",
    "plot_jigsaw": "keras_unsup.viz",
    "plot_inpainting": "keras_unsup.viz",
    "MemoryBank": "keras_unsup.layers.memory_bank",
    "Colorization": "keras_unsup.models.colorization",
    "SplitBrain": "keras_unsup.models.split_brain",
    "ExemplarCNN": "keras_unsup.models.exemplar_cnn",
    "NAT": "keras_unsup.models.nat",
    "NPID": "keras_unsup.models.npid",
    "rgb_to_lab": "keras_unsup.data.colour",
    "lab_to_rgb": "keras_unsup.data.colour",
    "load_colour_patches": "keras_unsup.data.colour",
    "load_colour_benchmark_data": "keras_unsup.data.colour",
    "evaluate_embeddings": "keras_unsup.recipes.self_supervised",
    "ablate": "keras_unsup.ablation",
    # capsules
    "SetTransformer": "keras_unsup.layers.set_transformer",
    "MultiheadAttentionBlock": "keras_unsup.layers.multihead_attention_block",
    "AffineTemplates": "keras_unsup.layers.affine_templates",
    "build_part_encoder": "keras_unsup.builders.capsules",
    "build_object_encoder": "keras_unsup.builders.capsules",
    "PCAE": "keras_unsup.models.scae",
    "OCAE": "keras_unsup.models.scae",
    "SCAE": "keras_unsup.models.scae",
    "make_constellations": "keras_unsup.data.constellations",
    "assignment_accuracy": "keras_unsup.data.constellations",
    # recipes
    "run_recipe": "keras_unsup.recipes",
    "list_recipes": "keras_unsup.recipes",
}


# Modules that register Keras objects for serialization, so that
# `keras.saving.load_model("model.keras")` finds every class of ours after a plain
# `import keras_unsup`. They import Keras, and Keras itself imports matplotlib and
# scikit-learn when they are installed; so they are imported here only when Keras is
# already loaded, and otherwise right after Keras finishes loading (`_KerasWatcher`).
# Importing the package thus loads no TensorFlow, Keras, matplotlib or scikit-learn of
# its own accord, reads no `sys.argv` and changes no setting.
_SERIALIZABLES = (
    "keras_unsup.data.augment",
    "keras_unsup.data.views",
    "keras_unsup.losses",
    "keras_unsup.layers",
    "keras_unsup.models",
)


def _register_serializables():
    for module in _SERIALIZABLES:
        importlib.import_module(module)


class _KerasWatcher:
    """A one-shot import finder: registers our classes once `keras` has loaded.

    It answers only for the top-level `keras` module: it removes itself, finds the real
    spec with the other finders and wraps its loader so that `_register_serializables`
    runs after Keras' own module code. Every other import passes through untouched.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        _unwatch()
        import importlib.util

        spec = importlib.util.find_spec("keras")
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register_serializables()

    def __getattr__(self, name):  # get_resource_reader, is_package, ...
        return getattr(self.loader, name)


def _unwatch():
    import sys

    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _KerasWatcher)]


def _register_now_or_when_keras_loads():
    import sys

    if "keras" in sys.modules:
        _register_serializables()
    elif not any(isinstance(f, _KerasWatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasWatcher())


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_unsup' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)

_register_now_or_when_keras_loads()
