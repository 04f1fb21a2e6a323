"""Tests of jaxgan.losses.reconstruction: L1/L2/cycle/identity/feature matching against their formulas, and the
image history pool against a numpy transcription of CycleGAN's ImagePool using the same random draws."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses
from jaxgan.losses import reconstruction as rec

RNG = np.random.default_rng(0)
A = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
B = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)


def _ctx(player="g", **values):
  return losses.LossContext(player=player, key=jax.random.key(0), values=values)


@pytest.mark.parametrize("factory, weight, formula, aux_name", [
    (rec.l1, 100.0, lambda a, b: np.mean(np.abs(a - b)), "l1"),
    (rec.l2, 2.5, lambda a, b: np.mean((a - b) ** 2), "l2"),
    (rec.cycle, 10.0, lambda a, b: np.mean(np.abs(a - b)), "cycle"),
    (rec.identity, 5.0, lambda a, b: np.mean(np.abs(a - b)), "identity"),
])
def test_pairwise_terms_against_formulas(factory, weight, formula, aux_name):
  term = factory("x", "y", weight=weight) if factory in (rec.l1, rec.l2) else factory("x", "y")
  assert term.players == ("g",)
  loss, aux, state = term.apply(_ctx(x=A, y=B, z=A), term.init(jax.random.key(0)))
  expected = formula(A.astype(np.float64), B.astype(np.float64))
  np.testing.assert_allclose(loss, weight * expected, rtol=1e-6)
  assert set(aux) == {aux_name} and aux[aux_name].shape == () and aux[aux_name].dtype == jnp.float32
  np.testing.assert_allclose(aux[aux_name], expected, rtol=1e-6)
  # other players get zero and no aux; the gradient is the formula's
  loss_d, aux_d, _ = term.apply(_ctx("d", x=A, y=B), state)
  assert float(loss_d) == 0.0 and aux_d == {}
  grad = jax.grad(lambda a: term.apply(_ctx(x=a, y=B), state)[0])(jnp.asarray(A))
  expected_grad = (2 * (A - B) if aux_name == "l2" else np.sign(A - B)) * weight / A.size
  np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-7)


def test_defaults_are_the_papers_weights_and_players_can_be_named():
  """cycle: lambda 10 (Zhu et al. 2017); identity: 0.5 x 10 as the reference; players and names chosen freely."""
  ctx = _ctx("g_ab", real_A=A, rec_A=B)
  term = rec.cycle("real_A", "rec_A", players=("g_ab",), name="cycle_A")
  loss, aux, _ = term.apply(ctx, ())
  np.testing.assert_allclose(loss, 10.0 * np.mean(np.abs(A - B)), rtol=1e-6)
  assert list(aux) == ["cycle_A"]
  loss, _, _ = rec.identity("real_A", "rec_A", players="g_ab").apply(ctx, ())
  np.testing.assert_allclose(loss, 5.0 * np.mean(np.abs(A - B)), rtol=1e-6)
  assert float(rec.cycle("real_A", "rec_A").apply(ctx, ())[0]) == 0.0  # acts for "g" only


def test_chain_of_cycle_terms_sums_them():
  loss = losses.chain(rec.cycle("a", "ra", name="cycle_A"), rec.cycle("b", "rb", weight=3.0, name="cycle_B"),
                      rec.l2("a", "b", weight=0.5))
  state = loss.init(jax.random.key(0))
  total, aux, _ = jax.jit(loss.apply)(_ctx(a=A, ra=B, b=B, rb=A * 2), state)
  expected = 10 * np.mean(np.abs(A - B)) + 3 * np.mean(np.abs(B - 2 * A)) + 0.5 * np.mean((A - B) ** 2)
  np.testing.assert_allclose(total, expected, rtol=1e-6)
  assert set(aux) == {"cycle_A", "cycle_B", "l2"}
  with pytest.raises(ValueError, match="two terms report"):
    losses.chain(rec.cycle("a", "ra"), rec.cycle("b", "rb")).apply(_ctx(a=A, ra=B, b=B, rb=A), ((), ()))


def test_feature_matching_against_formula():
  real = [RNG.normal(size=(2, 8, 8, 4)).astype(np.float32), RNG.normal(size=(2, 4, 4, 8)).astype(np.float32)]
  fake = [RNG.normal(size=f.shape).astype(np.float32) for f in real]
  ctx = _ctx(fr=real, ff=fake)
  loss, aux, _ = rec.feature_matching("fr", "ff", weight=10.0).apply(ctx, ())
  expected = np.mean([np.mean(np.abs(r - f)) for r, f in zip(real, fake)])
  np.testing.assert_allclose(loss, 10 * expected, rtol=1e-6)
  np.testing.assert_allclose(aux["feature_matching"], expected, rtol=1e-6)
  loss, _, _ = rec.feature_matching("fr", "ff", distance="l2", layer_weights=(0.25, 2.0)).apply(ctx, ())
  np.testing.assert_allclose(loss, 0.25 * np.mean((real[0] - fake[0]) ** 2) + 2 * np.mean((real[1] - fake[1]) ** 2),
                             rtol=1e-6)
  # the real features are constants: no gradient flows into them
  term = rec.feature_matching("fr", "ff")
  g_real = jax.grad(lambda r: term.apply(_ctx(fr=r, ff=fake), ())[0])([jnp.asarray(r) for r in real])
  g_fake = jax.grad(lambda f: term.apply(_ctx(fr=real, ff=f), ())[0])([jnp.asarray(f) for f in fake])
  assert all(float(jnp.abs(g).max()) == 0.0 for g in g_real)
  np.testing.assert_allclose(g_fake[1], np.sign(fake[1] - real[1]) / 2 / fake[1].size, rtol=1e-6)
  with pytest.raises(ValueError, match="2 layer_weights for 1 layers"):
    rec.feature_matching("fr", "ff", layer_weights=(1.0, 1.0)).apply(_ctx(fr=real[:1], ff=fake[:1]), ())


@pytest.mark.parametrize("call, match", [
    (lambda: rec.l1("a", "b", weight=-1.0), r"l1: weight must be a number >= 0, got -1.0"),
    (lambda: rec.cycle("a", "b", weight=float("nan")), r"cycle: weight must be a number >= 0, got nan"),
    (lambda: rec.identity("a", ""), r"identity: mapped must be the name of a quantity in ctx.values"),
    (lambda: rec.l2("a", "b", players=()), r"l2: players must be a non-empty tuple of player names, got \(\)"),
    (lambda: rec.feature_matching("a", "b", distance="l3"), r"distance must be one of \('l1', 'l2'\), got 'l3'"),
    (lambda: rec.feature_matching("a", "b", layer_weights=(1.0, -2.0)), r"layer_weights must be one number >= 0"),
    (lambda: rec.image_pool(-1), r"image_pool: size must be an int >= 0, got -1"),
    (lambda: rec.image_pool(5.0), r"image_pool: size must be an int >= 0, got 5.0"),
])
def test_bad_arguments_are_named(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_missing_quantity_and_shape_mismatch():
  with pytest.raises(ValueError, match=r"cycle: no quantity 'rec_A' in ctx.values for player 'g'; the model's "
                                       r"forward gives \['real_A'\]"):
    rec.cycle("real_A", "rec_A").apply(_ctx(real_A=A), ())
  with pytest.raises(ValueError, match=r"l1: the two quantities differ in shape, \(2, 4, 4, 3\) and \(2, 4, 4, 1\)"):
    rec.l1("a", "b").apply(_ctx(a=A, b=B[..., :1]), ())


# ----------------------------------------------------------------------------------------------------------------
# Image pool.


class NumpyImagePool:
  """CycleGAN's util/image_pool.py ImagePool, transcribed to numpy, fed the random draws (p, random_id) instead of
  calling `random`. The reference swaps when p > 0.5 with p ~ U[0, 1]; the pool under test when u < 0.5: fed
  p = 1 - u, both take the same branch."""

  def __init__(self, pool_size):
    self.pool_size = pool_size
    self.num_imgs = 0
    self.images = []

  def query(self, images, ps, random_ids):
    if self.pool_size == 0:
      return images
    return_images = []
    for image, p, random_id in zip(images, ps, random_ids):
      if self.num_imgs < self.pool_size:
        self.num_imgs = self.num_imgs + 1
        self.images.append(image.copy())
        return_images.append(image)
      else:
        if p > 0.5:
          tmp = self.images[random_id].copy()
          self.images[random_id] = image.copy()
          return_images.append(tmp)
        else:
          return_images.append(image)
    return np.stack(return_images)


def _draws(key, n, size):
  """The pool's documented draws: u ~ U[0, 1), j ~ U{0..size-1} from split(key)."""
  k1, k2 = jax.random.split(key)
  return np.asarray(jax.random.uniform(k1, (n,))), np.asarray(jax.random.randint(k2, (n,), 0, size))


@pytest.mark.parametrize("size, batch", [(5, 2), (4, 3), (1, 1)])
def test_image_pool_matches_the_reference_with_the_same_draws(size, batch):
  pool = rec.image_pool(size)
  state = pool.init((3, 2, 1))
  chex.assert_trees_all_equal_shapes_and_dtypes(state, rec.ImagePoolState(jnp.zeros((size, 3, 2, 1)),
                                                                           jnp.zeros((), jnp.int32)))
  chex.clear_trace_counter()  # chex counts traces per code object, shared by the parametrized pools
  query = jax.jit(chex.assert_max_traces(pool.query, n=1))
  reference = NumpyImagePool(size)
  key = jax.random.key(7)
  returned_old = 0
  for step in range(12):
    key, k_images, k_pool = jax.random.split(key, 3)
    images = jax.random.normal(k_images, (batch, 3, 2, 1))
    out, state = query(state, images, k_pool)
    u, j = _draws(k_pool, batch, size)
    expected = reference.query(np.asarray(images), 1.0 - u, j)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(state.images[:reference.num_imgs], np.stack(reference.images))
    assert int(state.count) == reference.num_imgs == min(size, batch * (step + 1))
    returned_old += int(np.sum(~np.all(np.asarray(out) == np.asarray(images), axis=(1, 2, 3))))
  assert returned_old > 0  # the test exercised the swap branch


def test_image_pool_returns_history_about_half_the_time_and_size_zero_is_identity():
  pool = rec.image_pool(3)
  state = pool.init((1, 1, 1))
  query = jax.jit(pool.query)
  old = 0
  for step in range(200):
    images = (4.0 * step + jnp.arange(1, 5, dtype=jnp.float32)).reshape(4, 1, 1, 1)  # all distinct
    out, state = query(state, images, jax.random.fold_in(jax.random.key(0), step))
    if step > 0:
      old += int(jnp.sum(out != images))
  # (199 * 4 queries, each from the past with probability 1/2): 398 +- 3 sigma (42)
  assert 356 < old < 440, old
  empty = rec.image_pool(0)
  images = jnp.ones((2, 3, 3, 1))
  out, s0 = empty.query(empty.init((3, 3, 1)), images, jax.random.key(0))
  np.testing.assert_array_equal(out, images)
  assert s0.images.shape == (0, 3, 3, 1)
  with pytest.raises(ValueError, match=r"images of shape \(3, 3, 1\) for a pool of \(1, 1, 1\)"):
    pool.query(state, images, jax.random.key(0))


def test_image_pool_gives_no_gradient_and_runs_per_device_under_vmap():
  """Returned images are constants; the pool state maps over a device axis like any state (vmap stands in for
  pmap's per-device semantics on one CPU device)."""
  pool = rec.image_pool(2)
  state = pool.init((2, 2, 1))
  images = jnp.ones((3, 2, 2, 1))
  grad = jax.grad(lambda x: jnp.sum(pool.query(state, x, jax.random.key(0))[0]))(images)
  assert float(jnp.abs(grad).max()) == 0.0
  states = jax.tree.map(lambda a: jnp.stack([a, a]), state)
  per_device = jnp.stack([images, 2 * images])
  keys = jax.random.split(jax.random.key(1), 2)
  outs, new = jax.vmap(pool.query)(states, per_device, keys)
  for d in range(2):
    out, s = pool.query(state, per_device[d], keys[d])
    np.testing.assert_array_equal(outs[d], out)
    np.testing.assert_array_equal(new.images[d], s.images)


@pytest.mark.parametrize("term", [
    rec.l1("x", "y"), rec.l2("x", "y"), rec.cycle("x", "y"), rec.identity("x", "y"),
    rec.feature_matching("fx", "fy", distance="l2"),
], ids=["l1", "l2", "cycle", "identity", "feature_matching"])
def test_terms_contract_under_jit(term):
  """init under eval_shape; apply under jit, compiled once for new values of the same shapes; state unchanged."""
  state = term.init(jax.random.key(0))
  chex.assert_trees_all_equal_shapes_and_dtypes(jax.eval_shape(term.init, jax.random.key(0)), state)
  chex.clear_trace_counter()
  apply = jax.jit(chex.assert_max_traces(term.apply, n=1))
  for scale in (1.0, 2.0):
    ctx = _ctx(x=A * scale, y=B, fx=[A * scale], fy=[B])
    loss, aux, new_state = apply(ctx, state)
    assert loss.shape == () and loss.dtype == jnp.float32 and float(loss) > 0
    assert all(v.shape == () and v.dtype == jnp.float32 for v in aux.values())
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
