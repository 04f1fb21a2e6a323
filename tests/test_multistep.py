"""Several steps per compiled call: `multi_step` equals n single calls (bit for bit for a one-seed MLP GAN, to float32
rounding where XLA lays the loop body out differently); the host-side stacking keeps the data source's position at
call boundaries."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from _ring_stream import RingStream
from jaxgan import losses as L
from jaxgan.nets import registry
from jaxgan.nets.mlp import TinyMLPDiscriminator, TinyMLPGenerator
from jaxgan.train import StackedBatches, StepConfig, init_state, make_train_step, multi_step, stack_batches
from jaxgan.train.multistep import leading_size, unstack_metrics
from jaxgan.train.step import UNOPTIMIZED

N = 3  # steps per call
CALLS = 2


def _bits(tree):
  """Host numpy leaves (PRNG keys as their key data), for bitwise comparison."""
  def one(x):
    if jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    return np.asarray(jax.device_get(x))
  return [one(x) for x in jax.tree.leaves(tree)]


def _assert_bitwise(a, b):
  la, lb = _bits(a), _bits(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(x.reshape(-1).view(np.uint8), y.reshape(-1).view(np.uint8))  # bits (-0.0, NaNs)


def _assert_rounding_close(a, b, metrics_a, metrics_b):
  """Integer leaves (step, key, counters) exact, floats to float32 rounding; the first step's metrics bitwise."""
  for x, y in zip(_bits(a), _bits(b)):
    assert x.dtype == y.dtype and x.shape == y.shape
    if np.issubdtype(x.dtype, np.floating):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)  # near-zero gradients: cancellation
    else:
      np.testing.assert_array_equal(x, y)
  for k in metrics_b:
    np.testing.assert_allclose(metrics_a[k], metrics_b[k], rtol=1e-5, atol=1e-6, err_msg=k)
  np.testing.assert_array_equal(metrics_a["d_loss"][0], metrics_b["d_loss"][0])  # the first step: same state in


def _singles_then_multi(step, state, batches, *, options=None):
  """(state, stacked metrics) after len(batches) single jitted calls, and after CALLS calls of the jitted multi-step
  on the same batches stacked N at a time."""
  single = jax.jit(step, compiler_options=options)
  s, history = state, []
  for b in batches:
    s, m = single(s, b)
    history.append(jax.device_get(m))
  want_metrics = {k: np.stack([h[k] for h in history]) for k in history[0]}

  multi = jax.jit(multi_step(step), compiler_options=options)
  s2, got = state, []
  for c in range(CALLS):
    s2, m = multi(s2, stack_batches(batches[c * N:(c + 1) * N]))
    got.append(jax.device_get(m))
  got_metrics = {k: np.concatenate([g[k] for g in got]) for k in got[0]}
  return (s, want_metrics), (s2, got_metrics)


def test_mlp_gan_with_d_steps_and_a_lazy_regularizer_is_bitwise_equal():
  """d_steps=2 (a scan inside the scan), lazy R1 every 3 D steps (a loss state with a counter), G's EMA: the loop
  body compiles to the single step's arithmetic, so every leaf and metric is bitwise equal."""
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  loss = L.chain(L.non_saturating(), L.every(3, L.r1(1.0)))
  tx = optax.adam(1e-2)
  cfg = StepConfig(latent_dim=2, d_steps=2, ema_decay=0.9)
  state = init_state(jax.random.PRNGKey(0), g, d, loss, tx, tx, cfg, {"image": jnp.zeros((16, 2))})
  stream = RingStream(16)
  batches = [next(stream) for _ in range(N * CALLS)]
  (want, want_m), (got, got_m) = _singles_then_multi(make_train_step(g, d, loss, tx, tx, cfg), state, batches)
  assert int(got.step) == N * CALLS
  _assert_bitwise(got, want)  # params, optimizer states, loss state, EMA, step, key
  assert sorted(got_m) == sorted(want_m) and got_m["d_loss"].shape == (N * CALLS,)
  _assert_bitwise(got_m, want_m)
  assert np.isfinite(got_m["d/r1"]).all() and (got_m["d/r1"] != 0).any()  # the lazy term ran inside the calls


def test_dcgan_with_batch_norm_matches_to_float32_rounding():
  """A tiny DCGAN on MNIST-shaped data: batch statistics (mutable collections) carried through the scan.

  Not bitwise on a CPU: inside the loop body XLA lays the convolutions' kernels and gradients out differently from
  the single-step program (whose state arrives in the default layouts), which changes the order of some float32
  sums (seen: the last bit or two of G's Dense kernel and batch-norm bias after one step, ~1e-7 relative after six).
  The integer parts (step, key, counters) are exact; the floats agree to float32 rounding.
  """
  g = registry.get_generator("dcgan_tiny", resolution=28, channels=1, num_classes=0)
  d = registry.get_discriminator("dcgan_tiny", resolution=28, channels=1, num_classes=0)
  loss = L.non_saturating()
  tx = optax.adam(2e-4, b1=0.5)
  cfg = StepConfig(latent_dim=8, ema_decay=0.99)
  rng = np.random.default_rng(0)
  batches = [{"image": np.tanh(rng.normal(size=(4, 28, 28, 1))).astype(np.float32)} for _ in range(N * CALLS)]
  state = init_state(jax.random.PRNGKey(1), g, d, loss, tx, tx, cfg, batches[0])
  assert jax.tree.leaves(state.g_collections)  # batch norm statistics present
  (want, want_m), (got, got_m) = _singles_then_multi(make_train_step(g, d, loss, tx, tx, cfg), state, batches,
                                                     options=UNOPTIMIZED)
  _assert_rounding_close(got, want, got_m, want_m)


def test_vmapped_seeds_match_to_float32_rounding():
  """The toy2d layout: the step vmapped over seeds, batches (n, S, B, 2), metrics (n, S). Not bitwise on a CPU
  (seen: the last bits of a few optimizer moments and of G's metrics from the second step on), as for the DCGAN."""
  g, d = TinyMLPGenerator(), TinyMLPDiscriminator()
  # Adam's eps 1e-4 (as tests/_parallel_check.py explains): with 1e-8 a rounding difference in a near-zero gradient
  # becomes an update difference of up to lr * d / eps, 2 % of a parameter here after a few steps.
  loss, tx, cfg = L.hinge(), optax.adam(1e-2, eps=1e-4), StepConfig(latent_dim=2, packing=2)
  example = {"image": jnp.zeros((8, 2))}
  states = jax.vmap(lambda k: init_state(k, g, d, loss, tx, tx, cfg, example))(
      jnp.stack([jax.random.PRNGKey(s) for s in (0, 1)]))
  streams = [RingStream(8), RingStream(8)]
  streams[1].restore({"position": 100})  # another seed's data
  batches = [{"image": np.stack([next(s)["image"] for s in streams])} for _ in range(N * CALLS)]
  (want, want_m), (got, got_m) = _singles_then_multi(jax.vmap(make_train_step(g, d, loss, tx, tx, cfg)), states,
                                                     batches)
  assert got_m["g_loss"].shape == (N * CALLS, 2)
  _assert_rounding_close(got, want, got_m, want_m)


def test_stacked_batches_keep_the_source_position_at_call_boundaries():
  stream = RingStream(4)
  stacked = StackedBatches(stream, 3)
  first = next(stacked)
  assert first["image"].shape == (3, 4, 2) and isinstance(first["image"], np.ndarray)
  assert stacked.state() == {"position": 3}
  second = next(stacked)
  assert stacked.state() == {"position": 6}
  reference = RingStream(4)
  singles = [next(reference)["image"] for _ in range(6)]
  np.testing.assert_array_equal(np.concatenate([first["image"], second["image"]]), np.stack(singles))
  stacked.restore({"position": 3})  # back to the boundary before the second item
  np.testing.assert_array_equal(next(stacked)["image"], second["image"])
  placed = StackedBatches(RingStream(4), 2, place=lambda b: {"image": jnp.asarray(b["image"]) * 2})
  np.testing.assert_array_equal(np.asarray(next(placed)["image"]), 2 * np.stack(singles[:2]))


def test_bad_inputs_raise_clear_errors():
  with pytest.raises(ValueError, match=r"steps_per_call must be an int >= 1 \(1: one step per call\), got 0"):
    StackedBatches(RingStream(4), 0)
  with pytest.raises(ValueError, match="got 2.0"):
    StackedBatches(RingStream(4), 2.0)
  with pytest.raises(ValueError, match=r"same leading axis n .*\{\"\['image'\]\": 3, \"\['label'\]\": 2\}"):
    leading_size({"image": np.zeros((3, 4)), "label": np.zeros((2, 4))})
  assert leading_size({"image": np.zeros((3, 4)), "label": np.zeros((3,))}) == 3
  with pytest.raises(ValueError, match="differ in shape"):
    stack_batches([{"image": np.zeros((4, 2))}, {"image": np.zeros((5, 2))}])
  with pytest.raises(ValueError, match="different structures"):
    stack_batches([{"image": np.zeros((4, 2))}, {"x": np.zeros((4, 2))}])
  with pytest.raises(ValueError, match=r"metric 'd_loss' has shape \(\), expected a leading axis of "
                                       r"steps_per_call=2"):
    unstack_metrics({"d_loss": np.float32(1.0)}, 2)
  per_step = unstack_metrics({"d_loss": np.array([1.0, 2.0]), "seeds": np.array([[1, 2], [3, 4]])}, 2)
  assert [float(m["d_loss"]) for m in per_step] == [1.0, 2.0] and per_step[1]["seeds"].tolist() == [3, 4]
