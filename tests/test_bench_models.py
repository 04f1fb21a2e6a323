"""The PyTorch halves of `benchmarks.train_step` build the same networks as the flax models they are timed against.

Skipped where torch is absent (CI); runs wherever `pip install -e ".[bench]"` was done.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import train_step

torch = pytest.importorskip("torch")


def _flax_sizes(module, example) -> list[int]:
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), example))
  return sorted(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("cfg", train_step.configs(smoke=False), ids=lambda c: c.name)
def test_torch_nets_have_the_flax_parameters(cfg):
  """Tensor by tensor (sizes sorted), G's and D's trainable parameters agree at the benchmarked sizes."""
  g, d, *_ = train_step._jax_parts(cfg)  # pylint: disable=protected-access
  tg, td = train_step._torch_modules(cfg)  # pylint: disable=protected-access
  z = jnp.zeros((2, cfg.latent_dim))
  x = jnp.zeros((2, cfg.resolution, cfg.resolution, cfg.channels))
  for module, example, torch_module in ((g, z, tg), (d, x, td)):
    torch_sizes = sorted(p.numel() for p in torch_module.parameters() if p.requires_grad)
    assert _flax_sizes(module, example) == torch_sizes
