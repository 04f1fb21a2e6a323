"""CycleGAN (Zhu et al. 2017, arXiv:1703.10593) as a configuration of the general step (`jaxgan.train.general`).

Nets: "G_AB" (A -> B) and "G_BA" (B -> A), ResNet generators (`resnet_9blocks` for 256x256, `resnet_6blocks` for
128x128, `resnet_tiny`), instance norm; "D_A" and "D_B", 70x70 PatchGANs with instance norm judging domain A and
domain B. (The reference names by generator: its G_A is our G_AB and its D_A, which judges G_A's output, our D_B.)
Players in the reference's order (`CycleGANModel.optimize_parameters`, github.com/junyanz/pytorch-CycleGAN-and-pix2pix):
  * "g" (G_AB and G_BA together): MSE(D_B(G_AB(a)), 1) + MSE(D_A(G_BA(b)), 1) + 10 |G_BA(G_AB(a)) - a|
    + 10 |G_AB(G_BA(b)) - b| + 0.5 x 10 (|G_AB(b) - b| + |G_BA(a) - a|) (identity), means over elements/patches.
  * "d" (D_A and D_B): 0.5 [MSE(D_B(b), 1) + MSE(D_B(pool_B(G_AB(a))), 0)], the same for D_A; the pools hold 50
    earlier fakes each.
LSGAN: `least_squares()`'s D loss is 0.5 (MSE_real + MSE_fake), the reference's D loss with its 0.5; its G loss is
0.5 MSE, so G's adversarial terms are scaled by 2 to be the reference's MSE.

The pools live in the loss state (`jaxgan.models.common.pooled_adversarial`), which players "g" and "d" share: "g"
sends the fakes it made (before its update, as the reference's `fake_B`) through the pool; "d" scores what the pool
returned with its D. D's forward computes only D on real images. Under pmap the pools are global (gathered fakes),
so jit, mesh and pmap give one state.

Batches: {"A": (N, H, W, C_A), "B": (N, H, W, C_B)} float32 in [-1, 1], unpaired.

Example:
  >>> model = cyclegan_model(generator="resnet_tiny", d_width=4, image_shape=(32, 32, 3), batch=1, num_steps=100)
  >>> state = general.init_general_state(key, model, {"A": a, "B": b})
  >>> state, metrics = jax.jit(general.make_general_step(model))(state, {"A": a, "B": b})
  ... # "g_loss", "g/A/least_squares", "g/cycle_A", "g/identity_B", "d_loss", "d/B/least_squares", ...
"""

from __future__ import annotations

from typing import Sequence

import jax

from jaxgan import losses as L
from jaxgan.models.common import adam, patch_logits, pooled_adversarial
from jaxgan.models.pix2pix import build_discriminator
from jaxgan.nets import pix2pix as nets_lib
from jaxgan.train import general

LOSS_NAME = "cyclegan"  # the loss state both players share (the pools)


def cyclegan_model(*, generator: str = "resnet_9blocks", g_width: int = 0, d_patch: str = "70", d_width: int = 64,
                   norm: str = "instance", image_shape: Sequence[int] = (256, 256, 3), channels_a: int = 0,
                   batch: int = 1, lambda_a: float = 10.0, lambda_b: float = 10.0, lambda_identity: float = 0.5,
                   pool_size: int = 50, lr: float = 2e-4, beta1: float = 0.5, beta2: float = 0.999,
                   eps: float = 1e-8, num_steps: int = 1, decay_steps: int = 0,
                   axis_name: str | None = None) -> general.Model:
  """The CycleGAN model.

  Args:
    generator: a translation generator name: resnet_9blocks (256x256), resnet_6blocks (128x128), resnet_tiny.
    g_width: generators' first-layer channels (ngf); 0 keeps the variant's.
    d_patch: the discriminators' receptive field ("70": the paper's; see `jaxgan.models.pix2pix.D_PATCHES`).
    d_width: discriminators' first-layer channels (ndf).
    norm: "instance" (CycleGAN), "batch" or "none".
    image_shape: (H, W, C_B) of domain B's images (the pool of D_B's fakes; C_B is G_AB's output channels).
    channels_a: C_A, channels of domain A (G_BA's output); 0: the same as C_B.
    batch: the global batch size (1 in the paper): the pools' queries are per step.
    lambda_a, lambda_b: cycle weights A -> B -> A and B -> A -> B (10 each).
    lambda_identity: identity weight as a fraction of lambda (0.5: 5 x |G_AB(b) - b|); 0 drops the identity terms
      (the paper's figure without them).
    pool_size: images per pool (50); 0 shows D the current fakes.
    lr, beta1, beta2: Adam for both players (2e-4, 0.5, 0.999).
    eps: Adam's epsilon (1e-8, PyTorch's). The convolution biases before instance norm (the reference keeps them)
      have zero gradients up to rounding, which Adam turns into updates of up to lr: comparisons of runs that sum
      in another order (devices) take a larger eps, as tests/_translation_parallel_check.py does.
    num_steps, decay_steps: constant rate, then linear decay to 0 over the last decay_steps updates (the paper:
      100 epochs constant, 100 decaying).
    axis_name: the pmap axis (set by `jaxgan.train.parallel.make_model_pmap_step`).
  Returns:
    A `general.Model` with nets {"G_AB", "G_BA", "D_A", "D_B"} and players ("g", "d") sharing loss "cyclegan".
  Raises:
    ValueError: an unknown net or bad weights.
  """
  for name, value in (("lambda_a", lambda_a), ("lambda_b", lambda_b), ("lambda_identity", lambda_identity)):
    if not value >= 0:
      raise ValueError(f"cyclegan_model: {name} must be >= 0, got {value}")
  h, w, c_b = (int(s) for s in image_shape)
  c_a = int(channels_a) or c_b
  identity = lambda_identity > 0
  if identity and c_a != c_b:
    raise ValueError(f"cyclegan_model: the identity terms feed domain B's images to G_AB, which reads domain A: "
                     f"they need channels_a == C_B, got {c_a} and {c_b}; set lambda_identity=0")
  g_kwargs = dict(norm=norm)
  if g_width:
    g_kwargs["width"] = g_width
  nets = {"G_AB": nets_lib.get_translation_generator(generator, channels=c_b, **g_kwargs),
          "G_BA": nets_lib.get_translation_generator(generator, channels=c_a, **g_kwargs),
          "D_A": build_discriminator(d_patch, width=d_width, norm=norm),
          "D_B": build_discriminator(d_patch, width=d_width, norm=norm)}

  def forward(nets, batch, key, player):
    del key
    a, b = batch["A"], batch["B"]
    values = {"real_A": a, "real_B": b}
    if player == "g":
      fake_b, fake_a = nets("G_AB", a), nets("G_BA", b)
      values.update(fake_A=fake_a, fake_B=fake_b, rec_A=nets("G_BA", fake_b), rec_B=nets("G_AB", fake_a))
      values["D_A(fake_A)"] = patch_logits(nets("D_A", fake_a))
      values["D_B(fake_B)"] = patch_logits(nets("D_B", fake_b))
      if identity:
        values["idt_B"], values["idt_A"] = nets("G_AB", b), nets("G_BA", a)
    else:  # "d": the fakes come from the pools in the loss state
      values["D_A(real_A)"] = patch_logits(nets("D_A", a))
      values["D_B(real_B)"] = patch_logits(nets("D_B", b))
    return values

  def adv(x, shape):
    return L.named(x, pooled_adversarial(L.least_squares(), size=pool_size, image_shape=shape, batch=batch,
                                         fake=f"fake_{x}", d_real=f"D_{x}(real_{x})", d=f"D_{x}",
                                         g_fake=f"D_{x}(fake_{x})", g_weight=2.0, d_weight=1.0))

  terms = [adv("A", (h, w, c_a)), adv("B", (h, w, c_b)),
           L.cycle("real_A", "rec_A", weight=lambda_a, name="cycle_A"),
           L.cycle("real_B", "rec_B", weight=lambda_b, name="cycle_B")]
  if identity:
    terms += [L.identity("real_B", "idt_B", weight=lambda_identity * lambda_b, name="identity_B"),
              L.identity("real_A", "idt_A", weight=lambda_identity * lambda_a, name="identity_A")]
  loss = L.chain(*terms)
  tx = lambda: adam(lr, num_steps, decay_steps, beta1, beta2, eps=eps)

  def check_batch(batch):
    for name, c in (("A", c_a), ("B", c_b)):
      if name not in batch:
        raise ValueError(f"cyclegan: the batch needs {name!r} ((N, H, W, C) float32 in [-1, 1]), got keys "
                         f"{sorted(batch)}")
      if tuple(batch[name].shape[1:]) != (h, w, c):
        raise ValueError(f"cyclegan: batch[{name!r}] has images of shape {tuple(batch[name].shape[1:])}, the model "
                         f"was built for {(h, w, c)} (image_shape, channels_a)")

  return general.Model(
      nets=nets, forward=forward, axis_name=axis_name, check_batch=check_batch,
      players=(general.Player("g", ("G_AB", "G_BA"), tx(), loss, loss_name=LOSS_NAME),
               general.Player("d", ("D_A", "D_B"), tx(), loss, loss_name=LOSS_NAME)))


def translate(model: general.Model, state: general.TrainState, images: jax.Array, direction: str = "AtoB") -> jax.Array:
  """G_AB (direction "AtoB") or G_BA ("BtoA") on `images` (N, H, W, C) float32 in [-1, 1], as the reference's test
  (instance norm: train and eval mode agree; batch norm nets use their running statistics here)."""
  if direction not in ("AtoB", "BtoA"):
    raise ValueError(f"translate: direction must be 'AtoB' or 'BtoA', got {direction!r}")
  name = "G_AB" if direction == "AtoB" else "G_BA"
  return model.nets[name].apply(state.variables(name), images, train=False)


def spec_from_config(c, train_set):
  """The runner's `TranslationSpec` (jaxgan.train.translation) of a CycleGAN config: fields generator, g_width,
  d_patch, d_width, norm, batch_size, lambda_a, lambda_b, lambda_identity, pool_size, lr, beta1, beta2, num_steps,
  decay_steps; image shapes from the data."""
  from jaxgan.train.translation import TranslationSpec  # pylint: disable=g-import-not-at-top
  model = cyclegan_model(generator=c.generator, g_width=c.g_width, d_patch=c.d_patch, d_width=c.d_width, norm=c.norm,
                         image_shape=train_set.b.images.shape[1:], channels_a=train_set.a.channels,
                         batch=c.batch_size, lambda_a=c.lambda_a, lambda_b=c.lambda_b,
                         lambda_identity=c.lambda_identity, pool_size=c.pool_size, lr=c.lr, beta1=c.beta1,
                         beta2=c.beta2, num_steps=c.num_steps, decay_steps=c.decay_steps)
  return TranslationSpec(model, "A", "B", lambda state, x, key: translate(model, state, x, "AtoB"),
                         back=lambda state, y: translate(model, state, y, "BtoA"), eval_batch=50)
