"""Loss transforms against their formulas, penalties against analytic gradients, combinators."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses as L

R = np.array([0.5, -1.0, 2.0, 0.1], np.float32)  # D logits on real
F = np.array([-0.3, 1.5, -2.0, 0.0], np.float32)  # D logits on fake


def _ctx(player, d_real=R, d_fake=F, real=None, fake=None, d_fn=None, key=0):
  real = np.zeros((len(d_real), 3), np.float32) if real is None else real
  fake = np.zeros_like(real) if fake is None else fake
  return L.LossContext(d_real=jnp.asarray(d_real), d_fake=jnp.asarray(d_fake),
                       real=jnp.asarray(real), fake=jnp.asarray(fake), labels=None,
                       d_fn=d_fn or (lambda x: jnp.zeros(x.shape[0])), step=jnp.zeros((), jnp.int32),
                       key=jax.random.PRNGKey(key), player=player)


def _value(term, player, **kw):
  loss, aux, _ = term.apply(_ctx(player, **kw), term.init(jax.random.PRNGKey(0)))
  return float(loss), {k: float(v) for k, v in aux.items()}


def _sig(x):
  return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


# Formulas written independently with numpy in float64.
FORMULAS = {
    "minimax": (lambda: -np.mean(np.log(_sig(R))) - np.mean(np.log(1 - _sig(F))),
                lambda: np.mean(np.log(1 - _sig(F)))),
    "non_saturating": (lambda: -np.mean(np.log(_sig(R))) - np.mean(np.log(1 - _sig(F))),
                       lambda: -np.mean(np.log(_sig(F)))),
    "least_squares": (lambda: 0.5 * np.mean((R - 1) ** 2) + 0.5 * np.mean(F ** 2),
                      lambda: 0.5 * np.mean((F - 1) ** 2)),
    "wasserstein": (lambda: np.mean(F) - np.mean(R), lambda: -np.mean(F)),
    "hinge": (lambda: np.mean(np.maximum(0, 1 - R)) + np.mean(np.maximum(0, 1 + F)),
              lambda: -np.mean(F)),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_adversarial_matches_formula(name):
  term = L.get_loss(name)
  d_expected, g_expected = FORMULAS[name]
  d, d_aux = _value(term, "d")
  g, g_aux = _value(term, "g")
  np.testing.assert_allclose(d, d_expected(), rtol=1e-6)
  np.testing.assert_allclose(g, g_expected(), rtol=1e-6)
  assert d_aux[name] == pytest.approx(d) and g_aux[name] == pytest.approx(g)


def test_least_squares_custom_targets():
  d, _ = _value(L.least_squares(a=-1.0, b=1.0, c=0.0), "d")
  g, _ = _value(L.least_squares(a=-1.0, b=1.0, c=0.0), "g")
  np.testing.assert_allclose(d, 0.5 * np.mean((R - 1) ** 2) + 0.5 * np.mean((F + 1) ** 2), rtol=1e-6)
  np.testing.assert_allclose(g, 0.5 * np.mean(F ** 2), rtol=1e-6)


def test_one_sided_label_smoothing():
  d, _ = _value(L.non_saturating(real_label=0.9), "d")
  t = 0.9
  expected = (np.mean(-t * np.log(_sig(R)) - (1 - t) * np.log(1 - _sig(R)))
              - np.mean(np.log(1 - _sig(F))))
  np.testing.assert_allclose(d, expected, rtol=1e-6)
  # the generator's loss is unchanged by smoothing
  assert _value(L.non_saturating(real_label=0.9), "g")[0] == pytest.approx(
      _value(L.non_saturating(), "g")[0])


def _bce64(logits, target):
  """Binary cross-entropy with logits in float64: -t log s(l) - (1 - t) log(1 - s(l))."""
  return -target * np.log(_sig(logits)) - (1 - target) * np.log(1 - _sig(logits))


def test_noisy_labels_flip_targets():
  # Asymmetric logits (D confident and right) make the correct-target and flipped-target losses
  # differ a lot, so an implementation that never (or always) flips cannot pass.
  n = 2000
  rng = np.random.default_rng(0)
  r = rng.normal(2.0, 1.0, size=n).astype(np.float32)
  f = rng.normal(-2.0, 1.0, size=n).astype(np.float32)
  right = np.mean(_bce64(r, 1.0)) + np.mean(_bce64(f, 0.0))
  flipped = np.mean(_bce64(r, 0.0)) + np.mean(_bce64(f, 1.0))
  assert flipped > 5 * right
  # p = 0: exactly the unflipped loss.
  np.testing.assert_allclose(_value(L.non_saturating(flip_prob=0.0), "d", d_real=r, d_fake=f)[0], right, rtol=1e-5)
  p = 0.3
  term = L.non_saturating(flip_prob=p)
  for key in (0, 7):
    got, _ = _value(term, "d", d_real=r, d_fake=f, key=key)
    assert got == _value(term, "d", d_real=r, d_fake=f, key=key)[0]  # deterministic for a key
    # The mask as the loss draws it: one (real, fake) pair of U[0, 1) per example, flip where u < p.
    flip = np.asarray(jax.random.uniform(jax.random.PRNGKey(key), (n, 2))) < p
    assert 0.25 < flip.mean() < 0.35
    t_real, t_fake = np.where(flip[:, 0], 0.0, 1.0), np.where(flip[:, 1], 1.0, 0.0)
    expected = np.mean(_bce64(r, t_real)) + np.mean(_bce64(f, t_fake))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # and, without the mask, close to the expectation (1 - p) * right + p * flipped
    np.testing.assert_allclose(got, (1 - p) * right + p * flipped, rtol=0.05)
  # another key flips other targets, so the loss changes
  assert abs(_value(term, "d", d_real=r, d_fake=f, key=0)[0] - _value(term, "d", d_real=r, d_fake=f, key=7)[0]) > 1e-3


def test_noisy_labels_flip_the_smoothed_real_target():
  # With one-sided smoothing a flipped real target is 1 - real_label (0.1 for 0.9), not 0: the mask as the loss
  # draws it (one (real, fake) pair of U[0, 1) per example, flip where u < p).
  n, p, t = 64, 0.3, 0.9
  rng = np.random.default_rng(1)
  r = rng.normal(2.0, 1.0, size=n).astype(np.float32)
  f = rng.normal(-2.0, 1.0, size=n).astype(np.float32)
  flip = np.asarray(jax.random.uniform(jax.random.PRNGKey(3), (n, 2))) < p
  assert flip[:, 0].sum() > 5 and flip[:, 1].sum() > 5
  t_real, t_fake = np.where(flip[:, 0], 1.0 - t, t), np.where(flip[:, 1], 1.0, 0.0)
  expected = np.mean(_bce64(r, t_real)) + np.mean(_bce64(f, t_fake))
  for make in (L.non_saturating, L.minimax):
    got, _ = _value(make(real_label=t, flip_prob=p), "d", d_real=r, d_fake=f, key=3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
  # a flip to 0 instead would differ by 0.1 * mean over flipped reals of their logit: far above the tolerance
  assert abs(np.mean(_bce64(r, np.where(flip[:, 0], 0.0, t))) - np.mean(_bce64(r, t_real))) > 1e-2


def test_build_loss_composes_the_named_pieces():
  # Names to the same composition written by hand: the values agree for both players on a quadratic D
  # (a penalty that depends on where D's gradient is taken), lazily every 3 D steps or at every one.
  kw = dict(real=X_REAL, fake=X_FAKE, d_fn=_quadratic_d(jnp.asarray(A)), key=3)
  # numpy integers (from a config file or a sweep) count as the ints they hold
  for interval, reg in ((1, L.gradient_penalty(5.0)), (3, L.every(3, L.gradient_penalty(5.0))),
                        (np.int64(1), L.gradient_penalty(5.0)), (np.int32(3), L.every(3, L.gradient_penalty(5.0)))):
    built = L.build_loss("ns", regularizer="gp", weight=5.0, interval=interval)
    by_hand = L.chain(L.non_saturating(), reg)
    for player in ("d", "g"):
      (got, got_aux), (want, want_aux) = _value(built, player, **kw), _value(by_hand, player, **kw)
      assert got == pytest.approx(want, rel=1e-6) and got_aux == pytest.approx(want_aux, rel=1e-6)
  assert _value(L.build_loss("hinge", regularizer="none"), "d") == _value(L.hinge(), "d")
  # A weight or an interval without a regularizer would be ignored: refused, naming what was given.
  for kw, named in ((dict(weight=3.0), "weight=3.0 given"), (dict(regularizer="none", interval=4), "interval=4 given"),
                    (dict(weight=1.0, interval=2), "weight=1.0 and interval=2 given")):
    with pytest.raises(ValueError, match=f"build_loss: {named} without a regularizer.*gradient_penalty, r1"):
      L.build_loss("hinge", **kw)
  assert _value(L.build_loss("lsgan", adversarial_kwargs={"a": -1.0}), "d") == \
      _value(L.least_squares(a=-1.0), "d")
  with pytest.raises(ValueError, match="unknown loss 'nope'; known: .*hinge"):
    L.build_loss("nope")
  with pytest.raises(ValueError, match="unknown regularizer 'l2'; known: .*r1"):
    L.build_loss("ns", regularizer="l2")
  for bad in (0, -5, 1.5, True):
    with pytest.raises(ValueError, match=f"interval must be an int >= 1.*got {bad!r}"):
      L.build_loss("hinge", regularizer="r1", interval=bad)


def test_bad_hyperparameters_raise():
  with pytest.raises(ValueError, match="real_label"):
    L.non_saturating(real_label=0.3)
  with pytest.raises(ValueError, match="flip_prob"):
    L.minimax(flip_prob=0.7)
  with pytest.raises(ValueError, match="gamma"):
    L.r1(gamma=-1.0)
  with pytest.raises(ValueError, match="unknown loss 'nope'.*hinge"):
    L.get_loss("nope")
  for bad in (0, 2.0, True):
    with pytest.raises(ValueError, match=f"every: n must be an int >= 1, got {bad!r}"):
      L.every(bad, L.r1())
  # a numpy integer is the same interval as the int it holds
  lazy = L.every(np.int64(2), _counter())
  losses = [float(lazy.apply(_ctx("d"), lazy.init(jax.random.PRNGKey(0))._replace(count=jnp.int32(c)))[0])
            for c in range(4)]
  assert losses == [2.0, 0.0, 2.0, 0.0]


# ---- penalties against analytic gradients ------------------------------------------------

W = np.array([0.3, -1.2, 2.0], np.float32)
X_REAL = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0], [-2.0, 1.0, 1.0], [0.0, 0.0, 0.0]], np.float32)
X_FAKE = np.array([[0.2, -2.0, 1.0], [1.5, 1.0, -3.0], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 3.0]], np.float32)


def _linear_d(w):
  return lambda x: x @ w + 0.7


def _quadratic_d(a):
  return lambda x: 0.5 * jnp.einsum("ni,ij,nj->n", x, a, x)


def test_gradient_penalty_linear_d():
  # grad_x D = w everywhere, so the penalty is weight * (|w| - 1)^2 whatever the interpolates.
  term = L.gradient_penalty(10.0)
  loss, aux = _value(term, "d", real=X_REAL, fake=X_FAKE, d_fn=_linear_d(jnp.asarray(W)))
  norm = np.linalg.norm(W)
  np.testing.assert_allclose(loss, 10.0 * (norm - 1) ** 2, rtol=1e-5)
  np.testing.assert_allclose(aux["grad_norm_interp"], norm, rtol=1e-5)
  np.testing.assert_allclose(aux["gradient_penalty"], (norm - 1) ** 2, rtol=1e-5)  # unweighted
  # double backprop: d/dw of (|w| - 1)^2 is 2 (|w| - 1) w / |w|
  def penalty_of(w):
    ctx = _ctx("d", real=X_REAL, fake=X_FAKE, d_fn=_linear_d(w))
    return term.apply(ctx, term.init(jax.random.PRNGKey(0)))[0]
  grad = jax.grad(penalty_of)(jnp.asarray(W))
  np.testing.assert_allclose(grad, 10.0 * 2 * (norm - 1) * W / norm, rtol=1e-4)


@pytest.mark.parametrize("target", [0.0, 0.5, 3.0])
def test_gradient_penalty_and_dragan_target(target):
  # Linear D: |grad_x D| = |w| everywhere, so both penalties are weight * (|w| - target)^2 (target 0: zero-centred).
  norm = np.linalg.norm(W)
  kw = dict(real=X_REAL, fake=X_FAKE, d_fn=_linear_d(jnp.asarray(W)))
  for term in (L.gradient_penalty(2.0, target=target), L.dragan(2.0, target=target)):
    loss, _ = _value(term, "d", **kw)
    np.testing.assert_allclose(loss, 2.0 * (norm - target) ** 2, rtol=1e-5)


def test_gradient_penalty_quadratic_d_uses_interpolates():
  # grad_x D(x) = A x: recompute the interpolates from the same key by hand.
  term = L.gradient_penalty(1.0)
  ctx = _ctx("d", real=X_REAL, fake=X_FAKE, d_fn=_quadratic_d(jnp.asarray(A)), key=3)
  loss = float(term.apply(ctx, term.init(jax.random.PRNGKey(0)))[0])
  eps = np.asarray(jax.random.uniform(jax.random.PRNGKey(3), (4,)))[:, None]
  x_hat = eps * X_REAL + (1 - eps) * X_FAKE
  norms = np.linalg.norm(x_hat @ A.T, axis=1)
  np.testing.assert_allclose(loss, np.mean((norms - 1) ** 2), rtol=1e-5)


def test_r1_r2_quadratic_d():
  gamma = 4.0
  r1, aux1 = _value(L.r1(gamma), "d", real=X_REAL, fake=X_FAKE, d_fn=_quadratic_d(jnp.asarray(A)))
  r2, aux2 = _value(L.r2(gamma), "d", real=X_REAL, fake=X_FAKE, d_fn=_quadratic_d(jnp.asarray(A)))
  sq_real = np.sum((X_REAL @ A.T) ** 2, axis=1)
  sq_fake = np.sum((X_FAKE @ A.T) ** 2, axis=1)
  np.testing.assert_allclose(r1, gamma / 2 * np.mean(sq_real), rtol=1e-5)
  np.testing.assert_allclose(aux1["r1"], np.mean(sq_real), rtol=1e-5)
  np.testing.assert_allclose(r2, gamma / 2 * np.mean(sq_fake), rtol=1e-5)
  np.testing.assert_allclose(aux2["r2"], np.mean(sq_fake), rtol=1e-5)  # aux: unweighted, as r1's
  # d/dA of mean |A x|^2 = 2 mean (A x) x^T
  def r1_of(a):
    ctx = _ctx("d", real=X_REAL, d_fn=_quadratic_d(a))
    return L.r1(gamma).apply(ctx, ())[0]
  grad = jax.grad(r1_of)(jnp.asarray(A))
  # D uses 0.5 x^T A x, so grad_x = 0.5 (A + A^T) x; A is symmetric here.
  expected = gamma / 2 * 2 * np.mean(np.einsum("ni,nj->nij", X_REAL @ A.T, X_REAL), axis=0)
  np.testing.assert_allclose(grad, 0.5 * (expected + expected.T), rtol=1e-4)


def test_penalties_are_zero_for_generator():
  for term in (L.gradient_penalty(), L.r1(), L.r2(), L.dragan()):
    loss, aux = _value(term, "g", real=X_REAL, fake=X_FAKE, d_fn=_linear_d(jnp.asarray(W)))
    assert loss == 0.0 and aux == {}


def test_dragan_linear_d():
  loss, _ = _value(L.dragan(2.0), "d", real=X_REAL, fake=X_FAKE, d_fn=_linear_d(jnp.asarray(W)))
  np.testing.assert_allclose(loss, 2.0 * (np.linalg.norm(W) - 1) ** 2, rtol=1e-5)


def _dragan_expected(real, key, weight, noise_scale):
  """DRAGAN penalty of `_quadratic_d(A)` in float64: x_hat = real + noise_scale * std(real) * u, u ~ U[0, 1)."""
  u = np.asarray(jax.random.uniform(jax.random.PRNGKey(key), real.shape), np.float64)
  x_hat = real.astype(np.float64) + noise_scale * np.std(real.astype(np.float64)) * u
  norms = np.linalg.norm(x_hat @ A.T.astype(np.float64), axis=1)  # grad_x 0.5 x^T A x = A x (A symmetric)
  return weight * np.mean((norms - 1) ** 2)


@pytest.mark.parametrize("noise_scale", [0.5, 2.0])
def test_dragan_quadratic_d_perturbs_real(noise_scale):
  # grad_x D varies with x, so the penalty depends on where the perturbed points are: rebuild them from the key.
  term = L.dragan(2.0, noise_scale=noise_scale)
  loss, aux = _value(term, "d", real=X_REAL, fake=X_FAKE, d_fn=_quadratic_d(jnp.asarray(A)), key=5)
  expected = _dragan_expected(X_REAL, 5, 2.0, noise_scale)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(aux["dragan"], expected / 2.0, rtol=1e-5)
  # the unperturbed penalty (no noise) is far from it
  assert abs(_dragan_expected(X_REAL, 5, 2.0, 0.0) - expected) > 0.05 * expected


def test_dragan_std_is_global_under_axis_name():
  # Two "devices" whose shards have very different spreads: the noise scale must use the std of the global batch,
  # and the per-device noise must be the slice of the global draw, so the mean over devices equals the
  # single-device penalty on the concatenated batch.
  real = np.concatenate([X_REAL, 4.0 * X_REAL[::-1] + 3.0]).astype(np.float32)  # (8, 3)
  term = L.dragan(2.0)
  d_fn = _quadratic_d(jnp.asarray(A))

  def local(x):
    ctx = _ctx("d", real=x, fake=jnp.zeros_like(x), d_fn=d_fn, key=5).replace(axis_name="dev")
    return term.apply(ctx, term.init(jax.random.PRNGKey(0)))[0]

  per_device = jax.vmap(local, axis_name="dev")(jnp.asarray(real).reshape(2, 4, 3))
  expected = _dragan_expected(real, 5, 2.0, 0.5)
  np.testing.assert_allclose(float(jnp.mean(per_device)), expected, rtol=1e-5)
  whole, _ = _value(term, "d", real=real, d_fn=d_fn, key=5)
  np.testing.assert_allclose(float(jnp.mean(per_device)), whole, rtol=1e-5)
  # with per-shard stds instead, the result would differ
  u = np.asarray(jax.random.uniform(jax.random.PRNGKey(5), real.shape), np.float64)
  local_std = np.repeat([np.std(real[:4]), np.std(real[4:])], 4)[:, None]
  x_local = real + 0.5 * local_std * u
  wrong = 2.0 * np.mean((np.linalg.norm(x_local @ A.T, axis=1) - 1) ** 2)
  assert abs(wrong - expected) > 0.01 * expected


# ---- combinators ----------------------------------------------------------------------------

def _counter(name="c"):
  """A stateful test term: loss = 1 + its call count; aux reports the count."""

  def init(key):
    del key
    return jnp.zeros((), jnp.int32)

  def apply(ctx, count):
    del ctx
    return 1.0 + count.astype(jnp.float32), {name: count.astype(jnp.float32)}, count + 1

  return L.LossTransform(init, apply, ("d",))


def test_chain_is_sum_and_union():
  term = L.chain(L.hinge(), L.scale(3.0, L.wasserstein()))
  d, aux = _value(term, "d")
  np.testing.assert_allclose(d, FORMULAS["hinge"][0]() + 3 * FORMULAS["wasserstein"][0](), rtol=1e-6)
  assert set(aux) == {"hinge", "wasserstein"}
  np.testing.assert_allclose(aux["wasserstein"], FORMULAS["wasserstein"][0](), rtol=1e-6)


def test_chain_gives_each_term_its_own_key():
  # Two identical random terms in one chain draw their own interpolates: sharing the chain's key would make them
  # (and any two random terms, e.g. label flips and a penalty) perfectly correlated. Each is still a valid GP:
  # the mean over its draws of (|A x_hat| - 1)^2 for interpolates x_hat on the segments real-fake.
  gp = L.gradient_penalty(1.0)
  term = L.chain(L.named("a", gp), L.named("b", gp))
  kw = dict(real=X_REAL, fake=X_FAKE, d_fn=_quadratic_d(jnp.asarray(A)), key=3)
  loss, aux = _value(term, "d", **kw)
  a, b = aux["a/gradient_penalty"], aux["b/gradient_penalty"]
  assert abs(a - b) > 1e-3 * max(a, b)
  np.testing.assert_allclose(loss, a + b, rtol=1e-6)
  alone, _ = _value(gp, "d", **kw)  # the unchained term with the chain's own key is a third draw
  assert abs(a - alone) > 1e-3 * alone and abs(b - alone) > 1e-3 * alone
  # each value lies between the smallest and largest penalty reachable on the segments
  e = np.linspace(0, 1, 201)[:, None, None]
  norms = np.linalg.norm((e * X_REAL + (1 - e) * X_FAKE) @ A.T, axis=2)  # (201, 4)
  sq = (norms - 1) ** 2
  for v in (a, b):
    assert np.mean(sq.min(0)) - 1e-4 <= v <= np.mean(sq.max(0)) + 1e-4


def test_only_restricts_a_term_to_one_player():
  for player, other in (("d", "g"), ("g", "d")):
    term = L.only(player, L.hinge())
    assert term.players == (player,)
    got, aux = _value(term, player)
    np.testing.assert_allclose(got, FORMULAS["hinge"][0 if player == "d" else 1](), rtol=1e-6)
    assert aux == {"hinge": pytest.approx(got)}
    assert _value(term, other) == (0.0, {})
  # every() counts only the calls of the kept player
  lazy = L.every(2, L.only("g", L.wasserstein()))
  state = lazy.init(jax.random.PRNGKey(0))
  _, _, state = lazy.apply(_ctx("d"), state)
  assert int(state.count) == 0
  with pytest.raises(ValueError, match="only: player must be a player name"):
    L.only("", L.hinge())
  # any player name of a general-step model (issue 27): "ae" gets the term, "d" and "g" zero
  ae = L.only("ae", L.hinge())
  assert ae.players == ("ae",) and _value(ae, "d") == (0.0, {}) and L.chain(L.hinge(), ae).players == ("d", "g", "ae")


def test_chain_refuses_a_state_of_another_loss():
  """A state with fewer (or more) entries than the chain has terms is refused, not zipped short (which would
  silently drop the regularizer)."""
  two = L.chain(L.non_saturating(), L.r1(10.0))
  state = two.init(jax.random.PRNGKey(0))
  for bad, got in ((state[:1], "1 entries"), (state + ((),), "3 entries"), ((), "0 entries")):
    with pytest.raises(ValueError, match=f"chain: the loss state has {got} for 2 terms.*init"):
      two.apply(_ctx("d"), bad)
  loss, aux, _ = two.apply(_ctx("d"), list(state))  # a list (as a restored checkpoint may hold it) is fine
  assert set(aux) == {"non_saturating", "r1"}


def test_chain_rejects_duplicate_names():
  with pytest.raises(ValueError, match="rename one with named"):
    _value(L.chain(L.hinge(), L.hinge()), "d")
  d, aux = _value(L.chain(L.hinge(), L.named("second", L.hinge())), "d")
  assert set(aux) == {"hinge", "second/hinge"}


def test_every_schedule_matches_written_out():
  n = 3
  term = L.every(n, _counter())
  state = term.init(jax.random.PRNGKey(0))
  apply = jax.jit(term.apply)
  got_losses, got_aux = [], []
  for _ in range(3 * n):
    loss, aux, state = apply(_ctx("d"), state)
    got_losses.append(float(loss))
    got_aux.append(float(aux["c"]))
  # Written out: active on calls 0, 3, 6; the inner count advances only then; loss scaled by n.
  assert got_losses == [n * 1.0, 0, 0, n * 2.0, 0, 0, n * 3.0, 0, 0]
  assert got_aux == [0.0, 0, 0, 1.0, 0, 0, 2.0, 0, 0]
  assert int(state.count) == 3 * n and int(state.inner) == 3
  # Without rescaling the active loss is the inner loss.
  loss, _, _ = L.every(n, _counter(), rescale=False).apply(_ctx("d"), state._replace(count=jnp.int32(0)))
  assert float(loss) == 4.0


def test_every_ignores_other_player():
  term = L.every(2, _counter())
  state = term.init(jax.random.PRNGKey(0))
  loss, aux, new = term.apply(_ctx("g"), state)
  assert float(loss) == 0.0 and aux == {} and int(new.count) == 0


def test_every_average_equals_unlazy_r1():
  # Lazy R1 over n calls (same inputs) averages to the plain R1.
  n = 4
  lazy = L.every(n, L.r1(2.0))
  state = lazy.init(jax.random.PRNGKey(0))
  total = 0.0
  for _ in range(n):
    loss, _, state = lazy.apply(_ctx("d", real=X_REAL, d_fn=_quadratic_d(jnp.asarray(A))), state)
    total += float(loss)
  plain, _ = _value(L.r1(2.0), "d", real=X_REAL, d_fn=_quadratic_d(jnp.asarray(A)))
  np.testing.assert_allclose(total / n, plain, rtol=1e-5)


# ---- top-k generator updates (Sinha et al. 2020) -----------------------------------------------

TOPK_F = np.array([0.3, -1.2, 2.0, 0.7, -0.4, 1.1], np.float32)  # six D logits on fake, distinct


def _topk_grad(term, d_fake, step=0):
  """(loss, aux, d loss / d d_fake) of a generator loss at `d_fake`."""
  def f(x):
    ctx = _ctx("g", d_real=np.zeros_like(d_fake), d_fake=x).replace(step=jnp.int32(step))
    loss, aux, _ = term.apply(ctx, term.init(jax.random.PRNGKey(0)))
    return loss, aux
  (loss, aux), g = jax.value_and_grad(f, has_aux=True)(jnp.asarray(d_fake))
  return float(loss), {k: float(v) for k, v in aux.items()}, np.asarray(g)


# 0.6 * 6 = 3.6: k = round(3.6) = 4 (the docstring's rounding; truncation would keep 3)
@pytest.mark.parametrize("fraction,kept", [(0.5, [2, 3, 5]), (1 / 3, [2, 5]), (0.01, [2]),
                                           (0.6, [0, 2, 3, 5])])
def test_top_k_gradient_is_mean_over_the_most_realistic(fraction, kept):
  # Non-saturating G loss softplus(-x): d/dx_i of the mean over the kept k = -sigmoid(-x_i) / k.
  loss, aux, grad = _topk_grad(L.top_k(L.non_saturating(), fraction), TOPK_F)
  want = np.zeros(6)
  want[kept] = -(1 - _sig(TOPK_F[kept])) / len(kept)
  np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)
  # The value (and the term's aux) stay those of the whole batch.
  np.testing.assert_allclose(loss, -np.mean(np.log(_sig(TOPK_F))), rtol=1e-6)
  np.testing.assert_allclose(aux["non_saturating"], loss, rtol=1e-6)
  np.testing.assert_allclose(aux["top_k_fraction"], len(kept) / 6, rtol=1e-6)


def test_top_k_full_fraction_and_discriminator_unchanged():
  plain = _topk_grad(L.non_saturating(), TOPK_F)
  full = _topk_grad(L.top_k(L.non_saturating(), 1.0), TOPK_F)
  np.testing.assert_allclose(full[2], plain[2], rtol=1e-6)
  np.testing.assert_allclose(full[0], plain[0], rtol=1e-6)
  d_plain = _value(L.hinge(), "d")
  d_top = _value(L.top_k(L.hinge(), 0.5), "d")
  assert d_top == d_plain


def test_top_k_over_devices_equals_one_device():
  # Under pmap the top k are chosen over the global batch: vmap with an axis name stands in
  # for two devices; their mean gradient equals the one-device gradient on the whole batch.
  term = L.top_k(L.least_squares(), 0.5)

  def local(x):
    def f(x):
      ctx = _ctx("g", d_real=np.zeros(3, np.float32), d_fake=x).replace(axis_name="dev")
      return term.apply(ctx, term.init(jax.random.PRNGKey(0)))[0]
    return jax.grad(f)(x)

  per_device = jax.vmap(local, axis_name="dev")(jnp.asarray(TOPK_F).reshape(2, 3))
  # Each device's gradient is w.r.t. its own logits, scaled for its local mean: averaging
  # over the 2 devices (as pmean of parameter gradients does) halves it.
  _, _, whole = _topk_grad(term, TOPK_F)
  np.testing.assert_allclose(np.asarray(per_device).reshape(-1) / 2, whole, rtol=1e-5, atol=1e-7)


def test_annealed_fraction_schedule():
  f = L.annealed_fraction(minimum=0.5, decay=0.9, period=10)
  got = [float(f(s)) for s in (0, 10, 25, 1000)]
  np.testing.assert_allclose(got, [1.0, 0.9, 0.9 ** 2.5, 0.5], rtol=1e-6)
  # Steps come from the context: the kept fraction follows the schedule.
  _, aux, _ = _topk_grad(L.top_k(L.non_saturating(), L.annealed_fraction(0.1, 0.5, 1)), TOPK_F,
                         step=1)
  np.testing.assert_allclose(aux["top_k_fraction"], 3 / 6, rtol=1e-6)


@pytest.mark.parametrize("make", [lambda: L.top_k(L.hinge(), 0.0), lambda: L.top_k(L.hinge(), 1.5),
                                  lambda: L.annealed_fraction(minimum=0.0),
                                  lambda: L.annealed_fraction(decay=1.2),
                                  lambda: L.annealed_fraction(period=0)])
def test_top_k_rejects_bad_settings(make):
  with pytest.raises(ValueError, match="top_k|annealed_fraction"):
    make()


# ---- one table over every registered transform -----------------------------------------------

REGISTERED = ([(n, {}) for n in L.ADVERSARIAL] + [(n, {}) for n in L.REGULARIZERS]
              + [("every4_r1", None), ("chain", None)])


def _build(name):
  if name == "every4_r1":
    return L.every(4, L.r1())
  if name == "chain":
    return L.chain(L.non_saturating(), L.every(2, L.gradient_penalty()))
  return L.get_loss(name)


@pytest.mark.parametrize("name", [n for n, _ in REGISTERED])
@pytest.mark.parametrize("player", ["d", "g"])
def test_registered_transform_contract(name, player):
  chex.clear_trace_counter()
  term = _build(name)
  state_shape = jax.eval_shape(term.init, jax.random.PRNGKey(0))
  state = term.init(jax.random.PRNGKey(0))
  chex.assert_trees_all_equal_shapes_and_dtypes(state, state_shape)
  d_fn = _linear_d(jnp.asarray(W))

  @jax.jit
  @chex.assert_max_traces(n=1)
  def apply(real, fake, state):
    ctx = L.LossContext(d_real=d_fn(real), d_fake=d_fn(fake), real=real, fake=fake, labels=None,
                        d_fn=d_fn, step=jnp.zeros((), jnp.int32), key=jax.random.PRNGKey(1),
                        player=player)
    return term.apply(ctx, state)

  loss, aux, new_state = apply(jnp.asarray(X_REAL), jnp.asarray(X_FAKE), state)
  loss, aux, new_state = apply(jnp.asarray(X_REAL) + 1, jnp.asarray(X_FAKE), new_state)
  assert loss.shape == () and loss.dtype == jnp.float32 and np.isfinite(float(loss))
  for v in aux.values():
    assert v.shape == () and v.dtype == jnp.float32
  chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
