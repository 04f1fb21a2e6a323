"""pix2pix (Isola et al. 2017, arXiv:1611.07004) as a configuration of the general step (`jaxgan.train.general`).

Nets: "G", a U-Net (`unet_256`, `unet_128`, `unet_tiny`, or any translation generator) with dropout, and "D", a
PatchGAN on concat(source, image) (the conditional D of section 3.2; `d_patch` "pixel", "16", "70", "142" are the
paper's 1x1 PixelGAN and 16/70/142 PatchGANs, n_layers 0/1/3/4). Players, as the reference's
`Pix2PixModel.optimize_parameters` (github.com/junyanz/pytorch-CycleGAN-and-pix2pix): "d" then "g".
  * "d": 0.5 x [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)], means over every patch (`scale(0.5, non_saturating())`).
  * "g": BCE(D(x, G(x)), 1) + lambda_L1 x mean |G(x) - y|, lambda 100 (`l1("fake_B", "real_B", weight=100)`).
  * `gan_loss="none"` is the L1-only ablation of the paper's table 1: no D at all, one player "g" with the L1 term.
Batches: {"source": (N, H, W, C_in), "image": (N, H, W, C_out)} float32 in [-1, 1] (the jitter happens before the
step, on the device: see `jaxgan.train.translation`).

Where this differs from the reference: each player runs its own forward, so D's update sees G's output under
another dropout mask than G's update (the reference computes `fake_B` once per iteration); G's parameters are the
same in both (D updates first). The learning rate decays per update, not per epoch (see `constant_then_linear`).

Test time: the paper keeps dropout on and normalizes with the test batch's statistics ("train mode", section 3.2.1
and the reference's test.py with `--eval` off); `translate(..., mode="eval")` uses the running statistics and no
dropout (`--eval`).

Example:
  >>> model = pix2pix_model(generator="unet_tiny", d_patch="70", d_width=4, num_steps=1000, decay_steps=500)
  >>> state = general.init_general_state(key, model, {"source": x, "image": y})
  >>> step = jax.jit(general.make_general_step(model))
  >>> state, metrics = step(state, {"source": x, "image": y})   # "d_loss", "g_loss", "g/l1", "g/non_saturating"
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxgan import losses as L
from jaxgan.models.common import KeyedNet, adam, patch_logits
from jaxgan.nets import pix2pix as nets_lib
from jaxgan.train import general

GAN_LOSSES = ("vanilla", "lsgan", "none")  # pix2pix: vanilla (BCE with logits); none: the L1-only ablation
D_PATCHES = {"pixel": 0, "16": 1, "70": 3, "142": 4}  # d_patch -> the reference's n_layers (0: PixelDiscriminator)
TEST_MODES = ("train", "eval")


def build_discriminator(d_patch: str, *, width: int = 64, norm: str = "batch") -> Any:
  """The PixelGAN (`d_patch="pixel"`) or the PatchGAN of `d_patch` "16", "70", "142" (n_layers 1, 3, 4).

  Raises:
    ValueError: an unknown d_patch (the message lists the known ones).
  """
  if d_patch not in D_PATCHES:
    raise ValueError(f"d_patch must be one of {', '.join(D_PATCHES)} (receptive field in pixels), got {d_patch!r}")
  if d_patch == "pixel":
    return nets_lib.get_patch_discriminator("pixel", width=width, norm=norm)
  return nets_lib.get_patch_discriminator("n_layers", n_layers=D_PATCHES[d_patch], width=width, norm=norm)


def pix2pix_model(*, generator: str = "unet_256", g_width: int = 0, d_patch: str = "70", d_width: int = 64,
                  norm: str = "batch", dropout: bool = True, out_channels: int = 3, gan_loss: str = "vanilla",
                  l1_weight: float = 100.0, d_scale: float = 0.5, lr: float = 2e-4, beta1: float = 0.5,
                  beta2: float = 0.999, num_steps: int = 1, decay_steps: int = 0,
                  axis_name: str | None = None) -> general.Model:
  """The pix2pix model.

  Args:
    generator: a translation generator name (`jaxgan.nets.pix2pix.TRANSLATION_GENERATORS`): unet_256 (256x256),
      unet_128 (128x128), unet_tiny (tests).
    g_width: G's first-layer channels (the reference's ngf); 0 keeps the variant's (64, tiny 4).
    d_patch: D's receptive field: "pixel", "16", "70" (the paper's choice), "142".
    d_width: D's first-layer channels (ndf).
    norm: "batch" (pix2pix), "instance" or "none", for G and D.
    dropout: G's decoder dropout (the paper's noise source).
    out_channels: channels of G's output.
    gan_loss: "vanilla" (the reference's BCE; G non-saturating), "lsgan" (D as least_squares, G's as the
      reference's MSE), "none" (L1 only: no D).
    l1_weight: lambda_L1 (100); 0 is the cGAN-only ablation.
    d_scale: the factor of D's loss (0.5: the reference halves it "to slow down the rate at which D learns").
    lr, beta1, beta2: Adam for both players (2e-4, 0.5, 0.999).
    num_steps, decay_steps: the learning rate is constant for num_steps - decay_steps updates then decays linearly
      to 0 (the reference's 100 + 100 epochs: decay_steps = num_steps / 2).
    axis_name: the pmap axis (set by `jaxgan.train.parallel.make_model_pmap_step`; None otherwise).
  Returns:
    A `general.Model` with nets {"G", "D"} (just {"G"} for gan_loss "none").
  Raises:
    ValueError: an unknown generator, d_patch or gan_loss, or weights out of range.
  """
  if gan_loss not in GAN_LOSSES:
    raise ValueError(f"gan_loss must be one of {', '.join(GAN_LOSSES)}, got {gan_loss!r}")
  if not l1_weight >= 0:
    raise ValueError(f"l1_weight must be >= 0, got {l1_weight}")
  if gan_loss == "none" and l1_weight == 0:
    raise ValueError("gan_loss='none' with l1_weight=0 leaves G without a loss")
  if not d_scale > 0:
    raise ValueError(f"d_scale must be > 0, got {d_scale}")
  g_kwargs = dict(channels=out_channels, norm=norm, use_dropout=dropout)
  if g_width:
    g_kwargs["width"] = g_width
  g = KeyedNet(nets_lib.get_translation_generator(generator, **g_kwargs))
  adversarial = gan_loss != "none"
  nets = {"G": g}
  if adversarial:
    nets["D"] = build_discriminator(d_patch, width=d_width, norm=norm)

  def forward(nets, batch, key, player):
    source, real = batch["source"], batch["image"]
    fake = nets("G", source, key)
    if player == "d":
      fake = jax.lax.stop_gradient(fake)
    values = {"source": source, "real_B": real, "fake_B": fake}
    if adversarial:
      values["D(fake)"] = patch_logits(nets("D", jnp.concatenate([source, fake], axis=-1)))
      if player == "d":
        values["D(real)"] = patch_logits(nets("D", jnp.concatenate([source, real], axis=-1)))
    return values

  tx = lambda: adam(lr, num_steps, decay_steps, beta1, beta2)
  players = []
  g_terms = []
  if adversarial:
    # The G formulas read only d_fake; the terms check that d_real is a logit vector too, so G's view gives them
    # D(fake) there (D(real) is not computed in G's forward).
    if gan_loss == "vanilla":
      d_term = L.view(L.non_saturating(), d_real="D(real)", d_fake="D(fake)")
      g_terms.append(L.view(L.non_saturating(), d_real="D(fake)", d_fake="D(fake)"))
    else:
      d_term = L.view(L.least_squares(), d_real="D(real)", d_fake="D(fake)")  # 0.5 (MSE_real + MSE_fake)
      g_terms.append(L.scale(2.0, L.view(L.least_squares(), d_real="D(fake)", d_fake="D(fake)")))  # MSE(D, 1)
      d_scale = d_scale / 0.5  # least_squares' D loss already holds the 1/2
    players.append(general.Player("d", ("D",), tx(), L.scale(d_scale, d_term)))
  if l1_weight > 0:
    g_terms.append(L.l1("fake_B", "real_B", weight=l1_weight))
  players.append(general.Player("g", ("G",), tx(), L.chain(*g_terms)))

  def check_batch(batch):
    for name in ("source", "image"):
      if name not in batch:
        raise ValueError(f"pix2pix: the batch needs {name!r} ((N, H, W, C) float32 in [-1, 1]), got keys "
                         f"{sorted(batch)}")

  return general.Model(nets=nets, players=tuple(players), forward=forward, axis_name=axis_name,
                       check_batch=check_batch)


def translate(model: general.Model, state: general.TrainState, source: jax.Array, key: jax.Array | None = None, *,
              mode: str = "train") -> jax.Array:
  """G's output on `source` at test time.

  Args:
    model: the pix2pix model.
    state: its TrainState (one copy).
    source: (N, H, W, C_in) float32 in [-1, 1].
    key: dropout key (mode "train" with dropout); None draws no dropout.
    mode: "train" (the paper: dropout on, batch norm with the statistics of this batch; give batches of the size
      the comparison wants, 1 in the reference's test.py) or "eval" (running statistics, no dropout).
  Returns:
    (N, H, W, C_out) float32 in [-1, 1].
  """
  if mode not in TEST_MODES:
    raise ValueError(f"translate: mode must be one of {TEST_MODES}, got {mode!r}")
  g = model.nets["G"]
  variables = state.variables("G")
  if mode == "eval":
    return g.apply(variables, source, None, train=False)
  out = g.apply(variables, source, key, train=True, mutable=list(state.collections["G"]))
  return out[0] if isinstance(out, tuple) else out


def spec_from_config(c: Any, train_set: Any) -> Any:
  """The runner's `TranslationSpec` (jaxgan.train.translation) of a pix2pix config: fields generator, g_width,
  d_patch, d_width, norm, dropout, gan_loss, l1_weight, d_scale, lr, beta1, beta2, num_steps, decay_steps,
  test_mode; G's output channels are the target domain's."""
  from jaxgan.train.translation import TranslationSpec  # pylint: disable=g-import-not-at-top
  model = pix2pix_model(generator=c.generator, g_width=c.g_width, d_patch=c.d_patch, d_width=c.d_width, norm=c.norm,
                        dropout=c.dropout, out_channels=train_set.b.channels, gan_loss=c.gan_loss,
                        l1_weight=c.l1_weight, d_scale=c.d_scale, lr=c.lr, beta1=c.beta1, beta2=c.beta2,
                        num_steps=c.num_steps, decay_steps=c.decay_steps)
  mode = c.test_mode
  return TranslationSpec(model, "source", "image", lambda state, x, key: translate(model, state, x, key, mode=mode),
                         eval_batch=1)
