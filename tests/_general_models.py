"""A CycleGAN-shaped general-step model for the tests: two tiny generators with batch norm, two tiny
discriminators, players "g" (both generators: adversarial + cycle terms) then "d" (both discriminators: adversarial
+ lazy R1 on D_B through `view(..., d_fn=)`). Used by tests/test_general_step.py and tests/_parallel_check.py."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import losses as L
from jaxgan.nets import layers
from jaxgan.train import general


class TinyG(nn.Module):
  """(N, 4) -> Dense (no bias) -> batch norm -> ReLU -> Dense -> (N, 4) tanh."""
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, *, train):
    # no bias before batch norm: its gradient is zero up to rounding, which Adam would amplify into noise
    h = nn.relu(layers.batch_norm(nn.Dense(8, use_bias=False)(x), train=train, bn_axis_name=self.bn_axis_name))
    return jnp.tanh(nn.Dense(4)(h))


class TinyD(nn.Module):
  """(N, 4) -> Dense -> LReLU -> Dense -> (N,) logits; labels ignored."""

  @nn.compact
  def __call__(self, x, labels=None, *, train):
    del labels, train
    return nn.Dense(1)(nn.leaky_relu(nn.Dense(8)(x), 0.2))[:, 0]


def cyclegan_forward(nets, batch, key, player):
  del key
  a, b = batch["A"], batch["B"]
  fake_b, fake_a = nets("G_AB", a), nets("G_BA", b)
  values = {"real_A": a, "real_B": b, "fake_A": fake_a, "fake_B": fake_b}
  if player == "g":
    values["rec_A"], values["rec_B"] = nets("G_BA", fake_b), nets("G_AB", fake_a)
  else:
    fake_a, fake_b = jax.lax.stop_gradient(fake_a), jax.lax.stop_gradient(fake_b)
    values["fake_A"], values["fake_B"] = fake_a, fake_b
  for x in ("A", "B"):
    values[f"D_{x}(real_{x})"] = nets(f"D_{x}", values[f"real_{x}"])
    values[f"D_{x}(fake_{x})"] = nets(f"D_{x}", values[f"fake_{x}"])
  return values


def cyclegan_model(bn_axis_name=None, d_steps=1):
  adv = lambda x: L.named(x, L.view(L.least_squares(), d_real=f"D_{x}(real_{x})", d_fake=f"D_{x}(fake_{x})"))
  r1 = L.named("B", L.view(L.every(2, L.r1(1.0)), d_real="D_B(real_B)", d_fake="D_B(fake_B)", real="real_B",
                           fake="fake_B", d_fn="D_B"))
  g_loss = L.chain(adv("A"), adv("B"), L.cycle("real_A", "rec_A", weight=10.0, name="cycle_A"),
                   L.cycle("real_B", "rec_B", weight=10.0, name="cycle_B"))
  d_loss = L.chain(adv("A"), adv("B"), r1)
  tx = optax.adam(1e-2, b1=0.5, eps=1e-4)
  g = TinyG(bn_axis_name=bn_axis_name)
  return general.Model(
      nets={"G_AB": g, "G_BA": g, "D_A": TinyD(), "D_B": TinyD()}, forward=cyclegan_forward,
      players=(general.Player("g", ("G_AB", "G_BA"), tx, g_loss),
               general.Player("d", ("D_A", "D_B"), tx, d_loss, steps=d_steps, per_slice=True)),
      ema_nets=("G_AB",), ema_decay=0.9, axis_name=bn_axis_name)


def ab_batch(n, seed=0):
  rng = np.random.default_rng(seed)
  return {"A": np.tanh(rng.normal(size=(n, 4))).astype(np.float32),
          "B": np.tanh(rng.normal(1.0, size=(n, 4))).astype(np.float32)}
