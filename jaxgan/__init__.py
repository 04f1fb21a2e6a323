"""jaxgan: generative adversarial networks in JAX/Flax.

Pure flax networks, optax-style loss transforms, one pure train step compiled with
`jax.jit` (one device or a Mesh) or `jax.pmap`. Submodules: `jaxgan.losses`,
`jaxgan.nets`, `jaxgan.train`, `jaxgan.data`, `jaxgan.metrics`, `jaxgan.sampling`,
`jaxgan.viz`, `jaxgan.perceptual` (VGG-16 features, LPIPS, perceptual losses; not
imported here).
"""

from jaxgan import losses
from jaxgan.sampling import lerp
from jaxgan.sampling import make_sample_fn
from jaxgan.sampling import sample_latent
from jaxgan.sampling import slerp
from jaxgan.sampling import truncate
from jaxgan.sampling import truncated_normal
from jaxgan.train.optim import clip_params
from jaxgan.train.general import Model
from jaxgan.train.general import Player
from jaxgan.train.general import init_general_state
from jaxgan.train.general import make_general_step
from jaxgan.train.state import GANState
from jaxgan.train.step import StepConfig
from jaxgan.train.step import init_state
from jaxgan.train.step import jit_step
from jaxgan.train.step import make_train_step
from jaxgan.train.step import pack

__version__ = "0.1.0"
