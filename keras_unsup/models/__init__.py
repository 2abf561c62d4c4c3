"""keras.Model subclasses that own a custom train_step."""

from keras_unsup.models.began import BEGAN
from keras_unsup.models.colorization import Colorization
from keras_unsup.models.context_encoder import ContextEncoder
from keras_unsup.models.contrastive_clustering import ContrastiveClustering
from keras_unsup.models.counting import Counting
from keras_unsup.models.dbn import DBN
from keras_unsup.models.dec import DEC, IDEC
from keras_unsup.models.exemplar_cnn import ExemplarCNN
from keras_unsup.models.gan import GAN
from keras_unsup.models.infogan import InfoGAN
from keras_unsup.models.jigsaw import Jigsaw
from keras_unsup.models.moco import MoCo
from keras_unsup.models.nat import NAT
from keras_unsup.models.npid import NPID
from keras_unsup.models.rbm import RBM
from keras_unsup.models.relative_position import RelativePosition
from keras_unsup.models.rotnet import RotNet
from keras_unsup.models.scae import OCAE, PCAE, SCAE
from keras_unsup.models.self_labelling import SelfLabelling
from keras_unsup.models.simclr import SimCLR
from keras_unsup.models.split_brain import SplitBrain
from keras_unsup.models.wgan_gp import WGANGP

__all__ = ["ContextEncoder", "Counting", "Jigsaw", "RelativePosition",
           "BEGAN", "Colorization", "ContrastiveClustering", "DBN", "DEC", "ExemplarCNN", "GAN",
           "IDEC", "InfoGAN", "MoCo", "NAT", "NPID", "OCAE", "PCAE", "RBM", "RotNet", "SCAE",
           "SelfLabelling", "SimCLR", "SplitBrain", "WGANGP"]
