"""Perceptual loss transforms: LPIPS and VGG-16 feature reconstruction, reading named quantities of a forward.

Both are stateless `LossTransform`s (jaxgan.losses.base) that read two images by name from `ctx.values` (what a
general-step model's forward computes, e.g. "fake_B" and "real_B") and hold the network's params closed over as
constants: they are not trained, not in the loss state and not in checkpoints. Gradients flow into both images;
wrap a target in `jax.lax.stop_gradient` in the forward if it must not receive any.

Example:

  loss = chain(non_saturating(), lpips_loss("fake_B", "real_B", weight=10.0, net="vgg"))
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from jaxgan.losses.base import (LossContext, LossTransform, check_players, check_value_names, check_weight, read_value,
                                stateless)
from jaxgan.perceptual import lpips_model as lpips_lib
from jaxgan.perceptual import vgg as vgg_lib
from jaxgan.perceptual import weights as weights_lib

PrecisionLike = Any


def _read_pair(ctx: LossContext, x_name: str, y_name: str, fn_name: str) -> tuple[jax.Array, jax.Array]:
  x, y = read_value(fn_name, ctx, x_name), read_value(fn_name, ctx, y_name)
  if x.shape != y.shape or x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"{fn_name}: {x_name!r} and {y_name!r} must be RGB images of one shape (N, H, W, 3), got "
                     f"{x.shape} and {y.shape}")
  return x, y


def lpips_loss(x: str, y: str, *, weight: float = 1.0, net: str = "vgg", params: Any = None,
               players: Sequence[str] = ("g",), name: str = "lpips", precision: PrecisionLike = None) -> LossTransform:
  """LPIPS v0.1 distance between two named images as a loss (Zhang et al. 2018, arXiv:1801.03924).

  loss = weight * mean_i LPIPS(values[x]_i, values[y]_i).

  Args:
    x, y: names in `ctx.values` of (N, H, W, 3) float32 images in [-1, 1]; H, W >= 16 (VGG) or 31 (AlexNet).
    weight: multiplier, >= 0.
    net: "vgg" (the reference's choice "for backpropping") or "alex".
    params: LPIPS params; None loads the cached weights now (FileNotFoundError when absent: run
      `python -m jaxgan.perceptual download`).
    players: players for which the term is active; zero for the others.
    name: aux name.
    precision: matmul precision of the trunk; None follows `jax.default_matmul_precision`.
  Returns:
    A LossTransform; aux holds `name`, the unweighted mean distance, () float32.
  """
  weights_lib._check_net(net)  # pylint: disable=protected-access
  weight = check_weight("lpips_loss", weight)
  players = check_players("lpips_loss", players)
  check_value_names("lpips_loss", x=x, y=y, name=name)
  dist = lpips_lib.make_lpips_fn(net, params, precision=precision)

  def fn(ctx: LossContext):
    a, b = _read_pair(ctx, x, y, "lpips_loss")
    value = jnp.mean(dist(a, b))
    return weight * value, {name: value}

  return stateless(fn, players=players)


def perceptual(x: str, y: str, *, weight: float = 1.0, layers: Sequence[str] = ("relu2_2",),
               layer_weights: Sequence[float] | None = None, distance: str = "l2", params: Any = None,
               input_norm: str = "imagenet", players: Sequence[str] = ("g",), name: str = "perceptual",
               precision: PrecisionLike = None) -> LossTransform:
  """VGG-16 feature reconstruction loss (Johnson et al. 2016, arXiv:1603.08155, Eq. 2; SRGAN's "VGG loss").

  loss = weight * sum_l layer_weights[l] * mean_{i,h,w,c} dist(F_l(values[x])_i - F_l(values[y])_i) with dist the square
  ("l2", Johnson's ||.||^2 / (C H W), averaged over the batch too) or the absolute value ("l1").

  Where jaxgan differs: papers that use VGG-19 (SRGAN's VGG54 = relu5_4, Ledig et al. 2017; AdaIN's relu4_1) get the
  nearest VGG-16 layer (relu5_3, relu4_1): no VGG-19 weights are obtainable offline. SRGAN also rescales its VGG loss
  by 1/12.75^2 (features of [0, 255] inputs); fold that into `weight`.

  Args:
    x, y: names in `ctx.values` of (N, H, W, 3) float32 images in [-1, 1].
    weight: multiplier, >= 0.
    layers: VGG-16 layer names (see `VGG16_LAYERS`), e.g. ("relu1_2", "relu2_2", "relu3_3", "relu4_3").
    layer_weights: one weight >= 0 per layer; default 1 each.
    distance: "l2" or "l1".
    params: VGG16 params (or LPIPS params, whose "trunk" is used); None loads the cached ImageNet weights now.
    input_norm: "imagenet" (default) or "lpips" (the same map up to rounding) or "none".
    players: players for which the term is active.
    name: aux name of the unweighted sum over layers (with layer_weights); aux also holds `<name>/<layer>`, each
      layer's distance without any weight.
    precision: matmul precision; None follows the context.
  Returns:
    A LossTransform; aux values are () float32.
  """
  layers = vgg_lib.check_layers(layers, vgg_lib.VGG16_LAYERS, "perceptual")
  if len(set(layers)) != len(layers):
    raise ValueError(f"perceptual: layers {layers} repeat a name")
  if layer_weights is None:
    layer_weights = (1.0,) * len(layers)
  layer_weights = tuple(float(w) for w in layer_weights)
  if len(layer_weights) != len(layers) or not all(w >= 0 for w in layer_weights):
    raise ValueError(f"perceptual: layer_weights must be {len(layers)} numbers >= 0 (one per layer of {layers}), got "
                     f"{layer_weights}")
  if distance not in ("l1", "l2"):
    raise ValueError(f"perceptual: distance must be 'l1' or 'l2', got {distance!r}")
  if input_norm not in vgg_lib.INPUT_NORMS:
    raise ValueError(f"perceptual: input_norm must be one of {vgg_lib.INPUT_NORMS}, got {input_norm!r}")
  weight = check_weight("perceptual", weight)
  players = check_players("perceptual", players)
  check_value_names("perceptual", x=x, y=y, name=name)
  if params is None:
    params = weights_lib.load_params("vgg")
  if "trunk" in params:
    params = params["trunk"]
  params = jax.tree_util.tree_map(jnp.asarray, params)
  net = vgg_lib.VGG16(layers=layers, input_norm=input_norm, precision=precision)

  def fn(ctx: LossContext):
    a, b = _read_pair(ctx, x, y, "perceptual")
    n = a.shape[0]
    feats = net.apply({"params": params}, jnp.concatenate([a, b], axis=0))
    total = jnp.zeros((), jnp.float32)
    aux = {}
    for layer, w in zip(layers, layer_weights):
      f = feats[layer].astype(jnp.float32)
      diff = f[:n] - f[n:]
      term = jnp.mean(jnp.square(diff) if distance == "l2" else jnp.abs(diff))
      aux[f"{name}/{layer}"] = term
      total = total + w * term
    aux[name] = total
    return weight * total, aux

  return stateless(fn, players=players)
