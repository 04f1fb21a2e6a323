"""Helpers shared by the network tests."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

KEY = jax.random.key(0, impl="rbg")  # rbg keys compile much faster on CPU than threefry


def count(tree) -> int:
  """Number of scalars in a tree of arrays."""
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def fake_init(model: nn.Module, *args, seed: int = 0):
  """Variables with init's tree and shapes (traced, not compiled) and numpy values: saves a compile per model.

  Kernels ~ N(0, 1/fan_in), embeddings ~ N(0, 1), BN scale/var = 1, bias/mean = 0, spectral u random unit.
  """
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = path[-1].key
    if name in ("scale", "var"):
      return jnp.ones(leaf.shape, leaf.dtype)
    if name in ("bias", "mean"):
      return jnp.zeros(leaf.shape, leaf.dtype)
    value = rng.normal(size=leaf.shape)
    if name == "u":
      value /= np.linalg.norm(value)
    elif name == "kernel":
      value /= np.sqrt(np.prod(leaf.shape[:-1]))
    return jnp.asarray(value, leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, jax.eval_shape(model.init, KEY, *args))


def randomize_norms(variables, seed: int = 5):
  """fake_init's variables with random biases, BN scales, running means and running variances (so that batch norm
  in eval mode is not the identity)."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = path[-1].key
    if name in ("scale", "var"):
      return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), leaf.dtype)
    if name in ("bias", "mean"):
      return jnp.asarray(rng.normal(0.0, 0.3, leaf.shape), leaf.dtype)
    return leaf

  return jax.tree_util.tree_map_with_path(fill, variables)
