"""GAN state, the pure train step, optimizer transforms, checkpoints and the host loop."""

from jaxgan.train.optim import clip_params
from jaxgan.train.state import GANState
from jaxgan.train.step import StepConfig
from jaxgan.train.step import apply_model
from jaxgan.train.step import glorot_init
from jaxgan.train.step import init_state
from jaxgan.train.step import jit_step
from jaxgan.train.step import make_train_step
from jaxgan.train.step import normal_init
from jaxgan.train.step import normal_init_state
from jaxgan.train.step import orthogonal_init
from jaxgan.train.step import pack
from jaxgan.train.step import reinit_state
from jaxgan.train.parallel import DataParallel
from jaxgan.train.parallel import make_mesh
from jaxgan.train.parallel import make_mesh_step
from jaxgan.train.parallel import make_pmap_step
from jaxgan.train.parallel import put_state
from jaxgan.train.parallel import shard_batch
from jaxgan.train.multistep import StackedBatches
from jaxgan.train.multistep import multi_step
from jaxgan.train.multistep import stack_batches
