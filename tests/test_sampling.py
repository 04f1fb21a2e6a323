"""Latent sampling, truncation and interpolation against their formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import sampling


def test_latent_distributions():
  z = sampling.sample_latent(jax.random.PRNGKey(0), (4000, 8))
  assert z.shape == (4000, 8) and z.dtype == jnp.float32
  assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
  u = sampling.sample_latent(jax.random.PRNGKey(0), (4000, 8), "uniform")
  assert float(u.min()) >= -1 and float(u.max()) <= 1 and abs(float(u.var()) - 1 / 3) < 0.02
  with pytest.raises(ValueError, match="unknown latent distribution 'gamma'"):
    sampling.sample_latent(jax.random.PRNGKey(0), (2, 2), "gamma")


def test_truncation():
  z = sampling.truncated_normal(jax.random.PRNGKey(0), (1000, 4), 0.5)
  assert float(jnp.abs(z).max()) <= 0.5
  x = jnp.array([[2.0, -4.0]])
  np.testing.assert_allclose(sampling.truncate(x, 0.25, center=jnp.array([1.0, 0.0])),
                             [[1.25, -1.0]])
  with pytest.raises(ValueError, match="psi"):
    sampling.truncate(x, 1.5)


def test_lerp_endpoints_and_midpoint():
  a, b = jnp.array([1.0, 0.0]), jnp.array([0.0, 3.0])
  out = sampling.lerp(a, b, jnp.array([0.0, 0.5, 1.0]))
  np.testing.assert_allclose(out, [[1, 0], [0.5, 1.5], [0, 3]])


def test_slerp_stays_on_circle_with_constant_angle_steps():
  a, b = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
  t = jnp.linspace(0, 1, 5)
  out = np.asarray(sampling.slerp(a, b, t))
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
  angles = np.arctan2(out[:, 1], out[:, 0])
  np.testing.assert_allclose(angles, np.pi / 2 * np.asarray(t), atol=1e-6)
  # batched and with different norms: norms interpolate linearly
  a2, b2 = jnp.array([[2.0, 0.0], [1.0, 1.0]]), jnp.array([[0.0, 4.0], [1.0, 1.0]])
  mid = np.asarray(sampling.slerp(a2, b2, jnp.array([0.5])))[0]
  np.testing.assert_allclose(np.linalg.norm(mid[0]), 3.0, rtol=1e-6)
  np.testing.assert_allclose(mid[1], [1.0, 1.0], rtol=1e-6)  # parallel: falls back to lerp
