"""keras.Model subclasses that own a custom train_step."""

from keras_unsup.models.dec import DEC, IDEC  # noqa: F401
from keras_unsup.models.gan import GAN  # noqa: F401
from keras_unsup.models.infogan import InfoGAN  # noqa: F401
from keras_unsup.models.wgan_gp import WGANGP  # noqa: F401
from keras_unsup.models.moco import MoCo  # noqa: F401
from keras_unsup.models.rotnet import RotNet  # noqa: F401
from keras_unsup.models.simclr import SimCLR  # noqa: F401
