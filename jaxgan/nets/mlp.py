"""Fully connected G and D, for vectors (2D mixtures) and flattened images."""

from __future__ import annotations

import functools
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class Maxout(nn.Module):
  """Dense layer with `pieces` linear pieces per unit, max over pieces (Goodfellow et al. 2013,
  arXiv:1302.4389). (N, F) -> (N, features)."""

  features: int
  pieces: int = 5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.Dense(self.features * self.pieces)(x)
    return jnp.max(y.reshape(y.shape[:-1] + (self.features, self.pieces)), axis=-1)


class MLPGenerator(nn.Module):
  """z (N, Z) -> (N, *out_shape).

  Attributes:
    out_shape: per-example output shape, e.g. (2,) or (28, 28, 1).
    hidden: widths of the hidden layers.
    batch_norm: batch norm after each hidden layer (before ReLU).
    output: "tanh" (images in [-1, 1]) or "linear" (unbounded vectors).
    bn_axis_name: pmap axis for synchronized batch norm.
  """

  out_shape: Sequence[int] = (2,)
  hidden: Sequence[int] = (400, 400, 400, 400)
  batch_norm: bool = True
  output: str = "tanh"
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool = True):
    del labels
    if z.ndim != 2:
      raise ValueError(f"MLPGenerator expects latents (N, Z), got shape {z.shape}")
    if self.output not in ("tanh", "linear"):
      raise ValueError(f"MLPGenerator.output must be 'tanh' or 'linear', got {self.output!r}")
    h = z
    for width in self.hidden:
      h = nn.Dense(width)(h)
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         axis_name=self.bn_axis_name)(h)
      h = nn.relu(h)
    h = nn.Dense(math.prod(self.out_shape))(h)
    if self.output == "tanh":
      h = jnp.tanh(h)
    return h.reshape((z.shape[0],) + tuple(self.out_shape))


class MLPDiscriminator(nn.Module):
  """x (N, ...) -> (N,) logits; input flattened, so packed inputs of any width work.

  Attributes:
    hidden: widths of the hidden layers.
    maxout_pieces: > 1 uses maxout units (VEEGAN/PacGAN's 2D discriminator uses 5);
      1 uses Dense + LeakyReLU(0.2).
  """

  hidden: Sequence[int] = (200, 200, 200)
  maxout_pieces: int = 5

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool = True):
    del labels, train
    h = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      if self.maxout_pieces > 1:
        h = Maxout(width, self.maxout_pieces)(h)
      else:
        h = nn.leaky_relu(nn.Dense(width)(h), 0.2)
    return nn.Dense(1)(h)[:, 0]


# Variants used by the toy 2D experiment and the tests.
ToyGenerator = functools.partial(MLPGenerator, out_shape=(2,), output="linear")
ToyDiscriminator = functools.partial(MLPDiscriminator)
TinyMLPGenerator = functools.partial(MLPGenerator, hidden=(8, 8), out_shape=(2,), output="linear")
TinyMLPDiscriminator = functools.partial(MLPDiscriminator, hidden=(8,), maxout_pieces=2)
