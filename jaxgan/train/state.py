"""GANState: everything a GAN run needs, as one pytree."""

from __future__ import annotations

from typing import Any

import jax
from flax import struct


@struct.dataclass
class GANState:
  """The whole training state. Orbax saves and restores it as one tree.

  Attributes:
    step: () int32, number of generator updates done.
    g_params, d_params: flax "params" collections of G and D.
    g_collections, d_collections: the other variable collections (e.g. "batch_stats",
      "spectral"), dicts keyed by collection name; empty dicts when none.
    g_opt_state, d_opt_state: optax states of the two optimizers.
    g_ema_params: exponential moving average of G's params, or None when EMA is off.
    loss_state: the state of the LossTransform (both players share one transform).
    key: the run's base PRNG key; step randomness is fold_in(key, step).
  """

  step: jax.Array
  g_params: Any
  d_params: Any
  g_collections: dict[str, Any]
  d_collections: dict[str, Any]
  g_opt_state: Any
  d_opt_state: Any
  g_ema_params: Any
  loss_state: Any
  key: jax.Array

  def g_variables(self, *, ema: bool = False) -> dict[str, Any]:
    """G's variables for `G.apply`; the EMA params when `ema` and EMA is on."""
    params = self.g_ema_params if (ema and self.g_ema_params is not None) else self.g_params
    return {"params": params, **self.g_collections}

  def d_variables(self) -> dict[str, Any]:
    """D's variables for `D.apply`."""
    return {"params": self.d_params, **self.d_collections}
