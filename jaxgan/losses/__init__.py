"""Loss transforms (optax style) and their combinators."""

from __future__ import annotations

from typing import Any, Callable

from jaxgan import _checks
from jaxgan.losses.adversarial import hinge
from jaxgan.losses.adversarial import least_squares
from jaxgan.losses.adversarial import minimax
from jaxgan.losses.adversarial import non_saturating
from jaxgan.losses.adversarial import wasserstein
from jaxgan.losses.base import EmptyState
from jaxgan.losses.base import EveryState
from jaxgan.losses.base import LossContext
from jaxgan.losses.base import LossTransform
from jaxgan.losses.base import annealed_fraction
from jaxgan.losses.base import chain
from jaxgan.losses.base import every
from jaxgan.losses.base import named
from jaxgan.losses.base import only
from jaxgan.losses.base import per_example
from jaxgan.losses.base import per_example_from_key
from jaxgan.losses.base import scale
from jaxgan.losses.base import stateless
from jaxgan.losses.base import top_k
from jaxgan.losses.base import view
from jaxgan.losses.penalties import dragan
from jaxgan.losses.penalties import gradient_penalty
from jaxgan.losses.penalties import r1
from jaxgan.losses.penalties import r2
from jaxgan.losses.reconstruction import ImagePool
from jaxgan.losses.reconstruction import ImagePoolState
from jaxgan.losses.reconstruction import cycle
from jaxgan.losses.reconstruction import feature_matching
from jaxgan.losses.reconstruction import identity
from jaxgan.losses.reconstruction import image_pool
from jaxgan.losses.reconstruction import l1
from jaxgan.losses.reconstruction import l2

ADVERSARIAL: dict[str, Callable[..., LossTransform]] = {
    "minimax": minimax,
    "non_saturating": non_saturating,
    "least_squares": least_squares,
    "wasserstein": wasserstein,
    "hinge": hinge,
}
REGULARIZERS: dict[str, Callable[..., LossTransform]] = {
    "gradient_penalty": gradient_penalty,
    "r1": r1,
    "r2": r2,
    "dragan": dragan,
}
_ALIASES = {"ns": "non_saturating", "mm": "minimax", "lsgan": "least_squares", "wgan": "wasserstein",
            "gp": "gradient_penalty", "wgan_gp": "gradient_penalty"}


def canonical_name(name: str) -> str:
  """The name an alias stands for (`ns` -> `non_saturating`); other names unchanged."""
  return _ALIASES.get(name, name)


def _lookup(table: dict[str, Callable[..., LossTransform]], kind: str, name: str):
  key = canonical_name(name)
  if key not in table:
    known = ", ".join(sorted(table) + sorted(k for k, v in _ALIASES.items() if v in table))
    raise ValueError(f"unknown {kind} {name!r}; known: {known}")
  return table[key]


def get_loss(name: str, **kwargs: Any) -> LossTransform:
  """An adversarial loss or regularizer by name, e.g. get_loss("hinge"), get_loss("r1", gamma=1.0)."""
  if _ALIASES.get(name, name) in REGULARIZERS:
    return _lookup(REGULARIZERS, "regularizer", name)(**kwargs)
  return _lookup(ADVERSARIAL, "loss", name)(**kwargs)


def build_loss(adversarial: str, *, regularizer: str | None = None, weight: float | None = None,
               interval: int = 1, adversarial_kwargs: dict[str, Any] | None = None,
               top_k_fraction: float | Callable[[Any], Any] | None = None) -> LossTransform:
  """`chain(adversarial, every(interval, regularizer(weight)))` from names, for configs.

  Args:
    adversarial: a name in ADVERSARIAL (or an alias: ns, mm, lsgan, wgan).
    regularizer: None, "" or "none", or a name in REGULARIZERS (alias gp).
    weight: the regularizer's weight (gamma for r1/r2); None keeps its default. Only with a regularizer.
    interval: lazy regularization interval (1 = every D step), an int >= 1; other than 1 only with a regularizer.
    adversarial_kwargs: keyword arguments of the adversarial factory.
    top_k_fraction: None (off), or the fraction (or schedule) of `top_k` applied to the
      adversarial term's generator updates (Sinha et al. 2020).
  Raises:
    ValueError: an unknown name (the message lists the known ones), `interval` not an int >= 1, or `weight` /
      `interval` given without a regularizer (they would be ignored).
  """
  if not _checks.is_int(interval) or interval < 1:
    raise ValueError(f"build_loss: interval must be an int >= 1 (1: regularize at every D step), got {interval!r}")
  interval = int(interval)  # a numpy integer (from a config or a sweep) as a Python int
  given = [f"weight={weight!r}"] * (weight is not None) + [f"interval={interval!r}"] * (interval != 1)
  if regularizer in (None, "", "none") and given:
    raise ValueError(f"build_loss: {' and '.join(given)} given without a regularizer, which would ignore "
                     f"{'them' if len(given) > 1 else 'it'}; pass regularizer= (one of {', '.join(REGULARIZERS)}) "
                     f"or drop {'them' if len(given) > 1 else 'it'}")
  adv = _lookup(ADVERSARIAL, "loss", adversarial)(**(adversarial_kwargs or {}))
  if top_k_fraction is not None:
    adv = top_k(adv, top_k_fraction)
  if regularizer in (None, "", "none"):
    return adv
  reg_fn = _lookup(REGULARIZERS, "regularizer", regularizer)
  reg = reg_fn() if weight is None else reg_fn(weight)
  return chain(adv, every(interval, reg) if interval > 1 else reg)
