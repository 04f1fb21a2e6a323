"""GAN state, the pure train step, optimizer transforms, checkpoints and the host loop."""

from jaxgan.train.optim import clip_params
from jaxgan.train.state import GANState
from jaxgan.train.step import StepConfig
from jaxgan.train.step import apply_model
from jaxgan.train.step import init_state
from jaxgan.train.step import jit_step
from jaxgan.train.step import make_train_step
from jaxgan.train.step import pack
