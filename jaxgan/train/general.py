"""The general train step (issue 27): named networks, named players, a forward of named quantities.

A `Model` is
  * `nets`: named flax modules, e.g. {"G", "D"}, {"G_AB", "G_BA", "D_A", "D_B"}, {"enc", "dec", "D_z"};
  * `players`: ordered updates (`Player`), each naming the nets whose parameters it updates, its optimizer, its loss
    transform and its number of updates per step ("d" x5 then "g" is WGAN; "g" then "d" is CycleGAN);
  * `forward(nets, batch, key, player) -> {name: array}`: the named quantities the player's loss terms read
    (`ctx.values`: "fake_B", "rec_A", "D_B(fake_B)", ...), from a slice of the batch ({"image", "source", "label",
    ...}) and a fresh key; `nets(name, *args)` applies a network with its current parameters.

`make_general_step(model)` builds one pure `step(state, batch) -> (state, metrics)` for every model, so jit, mesh,
pmap (`jaxgan.train.parallel`), mixed precision, EMA, the NaN flags, metrics and checkpoints work for all of them.
`jaxgan.train.step.make_train_step(G, D, ...)` is the two-player case and gives its numbers of before, bit for bit.

Per step and player, in the order of `model.players`:
  * Keys: `fold_in(state.key, state.step)` split into one key per player; update i of a player that scans (below)
    uses `fold_in(player key, i)`, a single update the player key itself; each update key is split into the
    forward's key and the loss' key.
  * A player's gradient is with respect to its own nets' parameters only: `nets(name, ...)` of another net is a
    constant (its parameters as the earlier players left them). Collections (batch statistics, spectral-norm
    vectors) of the player's own nets are threaded through its forward's calls and kept; another net's calls use
    its collections as they were when the update began, and their updates are discarded.
  * Batch slices: a `per_slice` player runs its `steps` updates in a `lax.scan`, update i on slice i of the batch
    (the step splits the batch into `steps` slices, the critic's k slices of WGAN); other players read the last
    slice (the whole batch when no player is per-slice), a player with steps > 1 in a scan of its own.
  * Under pmap (`model.axis_name`), gradients are averaged over the axis before the optimizer, the collections of
    every updated net and the metrics at the end of the step; instance norm needs no collective.
  * After the last player, the EMA of `model.ema_nets`.

Example (a CycleGAN-shaped model; tests/_general_models.py runs one under jit, mesh and pmap):
  >>> def forward(nets, batch, key, player):
  ...   a, b = batch["A"], batch["B"]
  ...   v = {"real_A": a, "real_B": b, "fake_B": nets("G_AB", a), "fake_A": nets("G_BA", b)}
  ...   if player == "g":
  ...     v |= {"rec_A": nets("G_BA", v["fake_B"]), "rec_B": nets("G_AB", v["fake_A"])}
  ...   else:  # D's update: the fakes are data
  ...     v |= {k: jax.lax.stop_gradient(v[k]) for k in ("fake_A", "fake_B")}
  ...   for x in "AB":
  ...     v[f"D_{x}(real_{x})"], v[f"D_{x}(fake_{x})"] = nets(f"D_{x}", v[f"real_{x}"]), nets(f"D_{x}", v[f"fake_{x}"])
  ...   return v
  >>> adv = lambda x: named(x, view(least_squares(), d_real=f"D_{x}(real_{x})", d_fake=f"D_{x}(fake_{x})"))
  >>> g_loss = chain(adv("A"), adv("B"), cycle("real_A", "rec_A", name="cycle_A"),
  ...                cycle("real_B", "rec_B", name="cycle_B"))
  >>> model = Model(nets={"G_AB": g_ab, "G_BA": g_ba, "D_A": d_a, "D_B": d_b}, forward=forward,
  ...               players=(Player("g", ("G_AB", "G_BA"), optax.adam(2e-4, b1=0.5), g_loss),
  ...                        Player("d", ("D_A", "D_B"), optax.adam(2e-4, b1=0.5), chain(adv("A"), adv("B")))))
  >>> state = init_general_state(jax.random.key(0), model, batch)   # batch: {"A": (N, ...), "B": (N, ...)}
  >>> state, metrics = jax.jit(make_general_step(model))(state, batch)  # "g_loss", "g/cycle_A", "d_grad_norm", ...
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxgan._checks import is_int
from jaxgan.losses.base import LossContext, LossTransform

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
COMPUTE_DTYPES = ("float32", "bfloat16")  # StepConfig.compute_dtype / Model.compute_dtype (None: float32)
# XLA options of a program compiled for a quick start rather than speed (LLVM's optimizations off): one-off
# programs on a CPU (an init, a test's step) and `fast_compile` runs.
UNOPTIMIZED = {"xla_backend_optimization_level": 0}
_TRACER = getattr(jax.core, "Tracer", None)


# ------------------------------------------------------------------------------------------------------------------
# Helpers shared with the two-player step (jaxgan.train.step re-exports the public ones).


def ema_decay_at(step: jax.Array, decay: float, rampup: float | None) -> jax.Array | float:
  """The EMA decay of G's update number `step` + 1 (`step` updates done before it).

  Without ramp-up it is `decay` itself, the Python float (the update's arithmetic is then what it was before ramp-up
  existed, to the bit). With ramp-up r the half-life is min(h, r * step) updates, h = log(0.5) / log(decay)
  the half-life of `decay`, and the decay 0.5 ** (1 / that): 0 at the first update (the average starts as G), `decay`
  from step h / r on. In StyleGAN2-ADA's images (its training_loop.py) this is min(ema_nimg, cur_nimg * ema_rampup)
  with cur_nimg the images seen before the update; in updates the batch size cancels.
  """
  if rampup is None:
    return decay
  half_life = math.log(0.5) / math.log(decay)
  ramped = jnp.minimum(half_life, rampup * jnp.asarray(step, jnp.float32))
  return jnp.where(ramped < half_life, 0.5 ** (1.0 / jnp.maximum(ramped, 1e-8)), decay)


def _cast_floats(tree: Any, dtype: Any) -> Any:
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x,
                      tree)


def apply_model(model: nn.Module, params: Any, collections: dict[str, Any], *args: Any,
                train: bool, compute_dtype: str | None = None) -> tuple[jax.Array, dict[str, Any]]:
  """Runs `model.apply` and returns (output, updated non-param collections).

  In train mode every collection present is mutable (batch norm statistics, spectral
  norm vectors); in eval mode none is, and `collections` is returned unchanged.
  With `compute_dtype` (e.g. "bfloat16") the floating parameters and arguments are cast to it
  on entry, floating outputs are cast to float32 and updated collections to their own dtypes.
  """
  cast = compute_dtype not in (None, "float32")
  if cast:
    params, args = _cast_floats(params, compute_dtype), _cast_floats(args, compute_dtype)
  variables = {"params": params, **collections}
  if train and collections:
    out, new = model.apply(variables, *args, train=True, mutable=list(collections))
    new = jax.tree.map(lambda n, old: n.astype(old.dtype), new, {k: collections[k] for k in new})
    out_cols = {**collections, **new}
  else:
    out, out_cols = model.apply(variables, *args, train=train), collections
  if cast:
    out = _cast_floats(out, jnp.float32)
  return out, out_cols


def _global_norm(tree: Any) -> jax.Array:
  norm = optax.tree.norm if hasattr(optax, "tree") and hasattr(optax.tree, "norm") else (
      optax.global_norm)
  return norm(tree).astype(jnp.float32)


def _prefixed(prefix: str, aux: dict[str, jax.Array]) -> Metrics:
  return {f"{prefix}/{k}": jnp.asarray(v, jnp.float32) for k, v in aux.items()}


def _all_finite(tree: Any) -> jax.Array:
  leaves = jax.tree.leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])).astype(jnp.float32)


# ------------------------------------------------------------------------------------------------------------------
# The model spec.

ForwardFn = Callable[["Nets", Batch, jax.Array, str], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Player:
  """One named update of a model.

  Attributes:
    name: the player's name, the prefix of its metrics ("<name>_loss", "<name>/<term>", "<name>_grad_norm") and
      `ctx.player` for its loss terms (adversarial terms take "d" for a discriminator, "g" for a generator).
    nets: the names of the nets whose parameters it updates. Its parameters, which `tx` sees, are that net's
      params when it updates one net (as the two-player step's optimizers), else {net name: params}.
    tx: its optax optimizer.
    loss: its loss transform; `apply(ctx, state)` with `ctx.values` the forward's quantities.
    steps: updates per train step (WGAN's critic: 5).
    per_slice: each update reads its own slice of the batch: the step splits the batch into `steps` slices and
      runs the updates in a `lax.scan` (a per-slice player with steps=1 is a scan of one, today's D). Otherwise
      the player reads the last slice (the one the last per-slice update read, or the whole batch).
    loss_name: players with the same loss_name share one loss state (and must hold the same transform): the
      two-player GAN's "d" and "g" share one, so `every(16, r1())` keeps one counter. None: the player's name.
    report: optional `values -> {metric name: () array}` of the player's forward quantities, reported from its
      last update as they are (not prefixed, not averaged over updates): the two-player step's "d_real", "d_fake".
  """

  name: str
  nets: tuple[str, ...]
  tx: optax.GradientTransformation
  loss: LossTransform
  steps: int = 1
  per_slice: bool = False
  loss_name: str | None = None
  report: Callable[[dict[str, Any]], dict[str, jax.Array]] | None = None

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name or "/" in self.name:
      raise ValueError(f"Player: name must be a non-empty string without '/', got {self.name!r}")
    nets = (self.nets,) if isinstance(self.nets, str) else self.nets
    if (not isinstance(nets, (tuple, list)) or not nets or
        not all(isinstance(n, str) and n for n in nets) or len(set(nets)) != len(nets)):
      raise ValueError(f"Player {self.name!r}: nets must be a non-empty tuple of distinct net names, got "
                       f"{self.nets!r}")
    object.__setattr__(self, "nets", tuple(nets))
    if not (hasattr(self.tx, "init") and hasattr(self.tx, "update")):
      raise ValueError(f"Player {self.name!r}: tx must be an optax.GradientTransformation, got "
                       f"{type(self.tx).__name__}")
    if not isinstance(self.loss, LossTransform):
      raise ValueError(f"Player {self.name!r}: loss must be a LossTransform (jaxgan.losses), got "
                       f"{type(self.loss).__name__}")
    if not is_int(self.steps) or self.steps < 1:
      raise ValueError(f"Player {self.name!r}: steps must be an int >= 1, got {self.steps!r}")
    object.__setattr__(self, "steps", int(self.steps))
    if not isinstance(self.per_slice, (bool, np.bool_)):
      raise ValueError(f"Player {self.name!r}: per_slice must be True or False, got {self.per_slice!r}")
    object.__setattr__(self, "per_slice", bool(self.per_slice))
    if self.loss_name is None:
      object.__setattr__(self, "loss_name", self.name)
    elif not isinstance(self.loss_name, str) or not self.loss_name:
      raise ValueError(f"Player {self.name!r}: loss_name must be a non-empty string or None, got "
                       f"{self.loss_name!r}")
    if self.report is not None and not callable(self.report):
      raise ValueError(f"Player {self.name!r}: report must be a function of the forward's values or None")


@dataclasses.dataclass(frozen=True)
class Model:
  """Nets, players and forward: what the general step needs to know about a model (static, closed over).

  Attributes:
    nets: {name: flax module}; every module is called `module(*args, train=...)`.
    players: the ordered updates of one step.
    forward: `forward(nets, batch, key, player) -> {name: array}`; `nets` a `Nets` view, `batch` one slice of
      the batch ({name: (B, ...)}), `key` a fresh PRNG key, `player` the name of the player being updated. The
      same function serves every player (branch on `player` in Python to compute only what its terms read);
      values are arrays (or None), not functions: a term that needs a network gets it from `ctx.nets`.
    ema_nets: nets whose parameters are averaged after each step (G's EMA).
    ema_decay: the EMA's decay in [0, 1); required with ema_nets.
    ema_rampup: None, or r > 0: StyleGAN2-ADA's ramp-up of the EMA's half-life (see `ema_decay_at`).
    compute_dtype: None or "float32", or "bfloat16": nets run in bfloat16, state stays float32 (as StepConfig).
    axis_name: the pmap axis (gradients, collections and metrics are averaged over it); None under jit.
    check_batch: optional trace-time check of one batch slice ({name: (B, ...)}), raising ValueError.
  """

  nets: Mapping[str, nn.Module]
  players: tuple[Player, ...]
  forward: ForwardFn
  ema_nets: tuple[str, ...] = ()
  ema_decay: float | None = None
  ema_rampup: float | None = None
  compute_dtype: str | None = None
  axis_name: str | None = None
  check_batch: Callable[[Batch], None] | None = None

  def __post_init__(self):
    if not isinstance(self.nets, Mapping) or not self.nets:
      raise ValueError(f"Model: nets must be a non-empty dict {{name: flax module}}, got {self.nets!r}")
    for name, module in self.nets.items():
      if not isinstance(name, str) or not name:
        raise ValueError(f"Model: net names must be non-empty strings, got {name!r}")
      if not isinstance(module, nn.Module):
        raise ValueError(f"Model: net {name!r} must be a flax.linen Module, got {type(module).__name__}")
    object.__setattr__(self, "nets", dict(self.nets))
    players = (self.players,) if isinstance(self.players, Player) else tuple(self.players)
    if not players or not all(isinstance(p, Player) for p in players):
      raise ValueError(f"Model: players must be a non-empty sequence of Player, got {self.players!r}")
    object.__setattr__(self, "players", players)
    if not callable(self.forward):
      raise ValueError("Model: forward must be a function (nets, batch, key, player) -> {name: array}")
    names = [p.name for p in players]
    if len(set(names)) != len(names):
      raise ValueError(f"Model: player names must be distinct, got {names}")
    owner: dict[str, str] = {}
    for p in players:
      for net in p.nets:
        if net not in self.nets:
          raise ValueError(f"Model: player {p.name!r} updates net {net!r}, which the model does not have "
                           f"(nets: {sorted(self.nets)}); name one of them")
        if net in owner:
          raise ValueError(f"Model: players {owner[net]!r} and {p.name!r} both update the parameters of "
                           f"{net!r}; a net's parameters belong to one player (give each its own nets, or make "
                           "them one player)")
        owner[net] = p.name
    shared: dict[str, LossTransform] = {}
    for p in players:
      if p.loss_name in shared and shared[p.loss_name] is not p.loss:
        raise ValueError(f"Model: players share loss_name {p.loss_name!r} but hold different loss transforms; "
                         "a shared loss state needs one transform (pass the same object) or distinct loss_names")
      shared.setdefault(p.loss_name, p.loss)
    sliced = {p.name: p.steps for p in players if p.per_slice}
    if len(set(sliced.values())) > 1:
      raise ValueError(f"Model: per-slice players must have the same steps (they read the same slices), got "
                       f"{sliced}")
    ema = (self.ema_nets,) if isinstance(self.ema_nets, str) else tuple(self.ema_nets)
    for net in ema:
      if net not in self.nets:
        raise ValueError(f"Model: ema_nets names {net!r}, which the model does not have (nets: {sorted(self.nets)})")
    object.__setattr__(self, "ema_nets", ema)
    if ema and (self.ema_decay is None or not 0.0 <= self.ema_decay < 1.0):
      raise ValueError(f"Model: ema_nets={ema} needs ema_decay in [0, 1), got {self.ema_decay}")
    if not ema and self.ema_decay is not None:
      raise ValueError(f"Model: ema_decay={self.ema_decay} but no ema_nets: name the nets to average")
    if self.ema_rampup is not None:
      if not self.ema_rampup > 0:
        raise ValueError(f"Model: ema_rampup must be > 0 or None (no ramp-up), got {self.ema_rampup}")
      if not self.ema_decay:
        raise ValueError(f"Model: ema_rampup={self.ema_rampup} ramps up an EMA that is off: set ema_decay in (0, 1)")
    if self.compute_dtype is not None and self.compute_dtype not in COMPUTE_DTYPES:
      raise ValueError(f"Model: compute_dtype must be None or one of {COMPUTE_DTYPES}, got {self.compute_dtype!r}")
    if self.check_batch is not None and not callable(self.check_batch):
      raise ValueError("Model: check_batch must be a function of one batch slice, or None")

  @property
  def num_slices(self) -> int:
    """The number of slices the step splits a batch into: the steps of the per-slice players, else 1."""
    return next((p.steps for p in self.players if p.per_slice), 1)

  @property
  def losses(self) -> dict[str, LossTransform]:
    """{loss_name: transform}, in player order: one loss state each."""
    out: dict[str, LossTransform] = {}
    for p in self.players:
      out.setdefault(p.loss_name, p.loss)
    return out

  @property
  def updated_nets(self) -> tuple[str, ...]:
    """The nets some player updates, in the order of `nets`."""
    owned = {n for p in self.players for n in p.nets}
    return tuple(n for n in self.nets if n in owned)


@struct.dataclass
class TrainState:
  """The general step's state, one pytree (orbax saves and restores it whole).

  Attributes:
    step: () int32, train steps done.
    params: {net name: flax "params"}.
    collections: {net name: {collection name: ...}} (batch statistics, spectral-norm vectors); {} per net when none.
    opt_state: {player name: optax state}.
    ema_params: {net name: EMA of its params} for `model.ema_nets`; {} without EMA.
    loss_state: {loss name: loss-transform state} (see `Player.loss_name`).
    key: the run's base PRNG key; step randomness is fold_in(key, step).
  """

  step: jax.Array
  params: dict[str, Any]
  collections: dict[str, Any]
  opt_state: dict[str, Any]
  ema_params: dict[str, Any]
  loss_state: dict[str, Any]
  key: jax.Array

  def variables(self, net: str, *, ema: bool = False) -> dict[str, Any]:
    """`net`'s variables for `module.apply`; its EMA params when `ema` and it has an EMA."""
    params = self.ema_params[net] if (ema and net in self.ema_params) else self.params[net]
    return {"params": params, **self.collections[net]}


class Nets:
  """The forward's view of the networks: `nets(name, *args, train=True)` applies one with its current variables.

  The parameters of the nets the player updates are the differentiated ones; other nets' are constants. See the
  module docstring for what happens to collections. Attributes a forward may read: `names` (the model's nets),
  `player`, `step` (() int32 train steps done), `axis_name` (the pmap axis, for `per_example_from_key`).
  """

  def __init__(self, model: Model, params: dict[str, Any], collections: dict[str, Any], own: tuple[str, ...], *,
               player: str, step: jax.Array | None, init_key: jax.Array | None = None):
    self._model = model
    self._params = dict(params)
    self._start = dict(collections)
    self._cols = {n: collections[n] for n in own if n in collections}
    self._own = own
    self._init_key = init_key
    self.player = player
    self.step = step
    self.axis_name = None if init_key is not None else model.axis_name

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(self._model.nets)

  def _module(self, name: str) -> nn.Module:
    if name not in self._model.nets:
      raise ValueError(f"the forward applies net {name!r}, which the model does not have (nets: "
                       f"{sorted(self._model.nets)})")
    return self._model.nets[name]

  def _variables_of(self, name: str, args: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    if self._init_key is not None and name not in self._params:  # initialization: the net's first call
      index = list(self._model.nets).index(name)
      variables = self._module(name).init(jax.random.fold_in(self._init_key, index), *args, train=False)
      self._params[name] = variables["params"]
      self._start[name] = {k: v for k, v in variables.items() if k != "params"}
    cols = self._cols[name] if name in self._own else self._start[name]
    return self._params[name], cols

  def __call__(self, name: str, *args: Any, train: bool = True) -> Any:
    """`name`'s output on `args` (its module's positional arguments), in train or eval mode."""
    module = self._module(name)
    params, cols = self._variables_of(name, args)
    if self._init_key is not None:
      return apply_model(module, params, cols, *args, train=False)[0]
    out, new = apply_model(module, params, cols, *args, train=train, compute_dtype=self._model.compute_dtype)
    if name in self._own:
      self._cols[name] = new
    return out

  def function(self, name: str, *args: Any, train: bool = True) -> Callable[[jax.Array], Any]:
    """x -> `name` applied to (x, *args) with the parameters and collections it has now (collection updates
    discarded): a network for a term to call on inputs of its own (the `d_fn` of a penalty)."""
    module = self._module(name)
    params = self._params[name]
    cols = self._cols[name] if name in self._own else self._start[name]
    dtype = None if self._init_key is not None else self._model.compute_dtype
    train = train and self._init_key is None
    return lambda x: apply_model(module, params, cols, x, *args, train=train, compute_dtype=dtype)[0]

  def own_collections(self) -> dict[str, Any]:
    """{net: collections} of the player's nets after the calls so far."""
    return dict(self._cols)

  def variables(self) -> tuple[dict[str, Any], dict[str, Any]]:
    """(params, collections) of every net applied so far (initialization)."""
    return dict(self._params), dict(self._start)


# ------------------------------------------------------------------------------------------------------------------
# Batches and the state's fit.


def _check_batch(batch: Any, num_slices: int, presplit: bool) -> None:
  """A dict of arrays with one leading example axis ((S, B, ...) when presplit), split into `num_slices`."""
  if not isinstance(batch, Mapping) or not batch:
    raise ValueError(f"batch must be a non-empty dict of arrays {{name: (N, ...)}}, got {type(batch).__name__}")
  lead = {}
  for name, x in batch.items():
    if not hasattr(x, "shape") or len(x.shape) < (2 if presplit else 1):
      raise ValueError(f"batch[{name!r}] must be an array with a leading example axis, got "
                       f"{getattr(x, 'shape', type(x).__name__)}")
    lead[name] = tuple(x.shape[:2]) if presplit else x.shape[0]
  if len(set(lead.values())) != 1:
    raise ValueError(f"every array of the batch needs the same leading (example) axis, got {lead}")
  if presplit:
    for name, (s, _) in lead.items():
      if s != num_slices:
        raise ValueError(f"presplit batch[{name!r}] must be (num_slices={num_slices}, B, ...), got shape "
                         f"{batch[name].shape}")
  else:
    rows = next(iter(lead.values()))
    if rows % num_slices:
      raise ValueError(f"the batch has {rows} examples, not divisible by the model's {num_slices} slices (the "
                       f"steps of its per-slice players): use a batch of a multiple of {num_slices}")


def _split(batch: Batch, k: int) -> Batch:
  return {name: x.reshape((k, x.shape[0] // k) + x.shape[1:]) for name, x in batch.items()}


def _init_variables(model: Model, key: jax.Array, batch: Batch) -> tuple[dict[str, Any], dict[str, Any]]:
  """Every net's variables, initialized on its first call in the forwards of the players, in order (eval mode)."""
  k_nets, k_fwd = jax.random.split(key)
  nets = Nets(model, {}, {}, (), player="", step=jnp.zeros((), jnp.int32), init_key=k_nets)
  for i, p in enumerate(model.players):
    nets.player = p.name
    model.forward(nets, batch, jax.random.fold_in(k_fwd, i), p.name)
  params, cols = nets.variables()
  missing = [n for n in model.nets if n not in params]
  if missing:
    raise ValueError(f"nets {missing} are never applied by the model's forward, so they cannot be initialized: "
                     "apply them in the forward of some player, or remove them from the model")
  order = list(model.nets)
  return ({n: params[n] for n in order}, {n: cols[n] for n in order})


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  return {jax.tree_util.keystr(path): tuple(np.shape(x)) for path, x in jax.tree_util.tree_leaves_with_path(tree)}


def check_state_fits(params: dict[str, Any], collections: dict[str, Any], model: Model, batch: Batch, *,
                     what: str = "state") -> None:
  """Raises one clear ValueError when the state's parameters (or collections) are not the shapes `model` makes.

  The model's shapes come from `jax.eval_shape` of its initialization on one batch slice (abstract: no FLOPs, no
  arrays), so the check runs at trace time and costs nothing per step.

  Args:
    params, collections: {net name: ...} of the state.
    model: the model the step was built for.
    batch: one slice of the batch ({name: (B, ...)}).
    what: how the message names the state ("state", "GANState").
  Raises:
    ValueError: a net's parameter tree or a shape differs (a state, or a checkpoint, of another model or
      configuration: another width, latent size, number of classes ...).
  """
  spec = {n: jax.ShapeDtypeStruct(x.shape, x.dtype) for n, x in batch.items()}
  want_params, want_cols = jax.eval_shape(lambda b: _init_variables(model, jax.random.key(0), b), spec)
  for kind, have, want in (("parameters", params, want_params), ("collections", collections, want_cols)):
    for net in model.nets:
      have_shapes, want_shapes = _shapes(have.get(net) if isinstance(have, Mapping) else None), _shapes(want[net])
      if have_shapes == want_shapes:
        continue
      diff = next((k for k in want_shapes if have_shapes.get(k) != want_shapes[k]), None)
      if diff is not None:
        got = have_shapes.get(diff, "missing")
        detail = f"{diff} is {got} in the {what}, {want_shapes[diff]} in the model"
      else:
        extra = next(k for k in have_shapes if k not in want_shapes)
        detail = f"the {what} has {extra}, which the model does not"
      raise ValueError(f"the {what} belongs to another model: {net}'s {kind} do not match the model the step was "
                       f"built for ({detail}; e.g. another width, latent size or number of classes). Build the "
                       f"state for this model (its init), or restore a checkpoint written with this configuration")


# ------------------------------------------------------------------------------------------------------------------
# Init and step.


def _player_params(player: Player, params: dict[str, Any]) -> Any:
  return params[player.nets[0]] if len(player.nets) == 1 else {n: params[n] for n in player.nets}


def _net_params(player: Player, theta: Any) -> dict[str, Any]:
  return {player.nets[0]: theta} if len(player.nets) == 1 else dict(theta)


def init_general_state(key: jax.Array, model: Model, example_batch: Batch) -> TrainState:
  """Initializes every part of the state from one PRNG key, in one compiled program.

  Each net is initialized (`module.init(key, *args, train=False)`) on its first call in the players' forwards,
  run in order in eval mode on `example_batch` (only shapes and dtypes matter; keys: fold_in of one key by the
  net's position in `model.nets`). Then each player's optimizer, the EMA copies and each loss state.

  Args:
    key: PRNG key; split into the nets' init, the losses' init and the run's base key.
    model: the Model.
    example_batch: {name: (N, ...)} with the shapes of the real data; N may be the whole batch or one slice.
  Returns:
    A TrainState with step 0.
  Raises:
    ValueError: a net the forward never applies; the model's own checks of the batch.
  """
  _check_batch(example_batch, 1, False)
  if model.check_batch is not None:
    model.check_batch(dict(example_batch))
  build = lambda k, b: _init_general_state(model, k, b)
  args = (key, dict(example_batch))
  if _TRACER is None or any(isinstance(x, _TRACER) for x in jax.tree.leaves(args)):
    return build(*args)
  return jax.jit(build, compiler_options=UNOPTIMIZED if jax.default_backend() == "cpu" else None)(*args)


def _init_general_state(model: Model, key: jax.Array, batch: Batch) -> TrainState:
  k_nets, k_loss, k_run = jax.random.split(key, 3)
  params, collections = _init_variables(model, k_nets, batch)
  losses = model.losses
  loss_keys = jax.random.split(k_loss, len(losses))
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      collections=collections,
      opt_state={p.name: p.tx.init(_player_params(p, params)) for p in model.players},
      ema_params={n: jax.tree.map(jnp.copy, params[n]) for n in model.ema_nets},
      loss_state={name: t.init(k) for (name, t), k in zip(losses.items(), loss_keys)},
      key=k_run,
  )


def make_general_step(model: Model, *, presplit: bool = False,
                      check_state: bool = True) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
  """Builds the pure train step of `model`.

  Args:
    model: the Model (static; closed over).
    presplit: the batch arrives split into the model's slices, (num_slices, B, ...) instead of
      (num_slices * B, ...); the mesh step uses it so a sharded batch never moves.
    check_state: check at trace time that the state's parameter shapes are the model's (see `check_state_fits`).
  Returns:
    `step(state, batch) -> (state, metrics)`. batch: {name: (num_slices * B, ...)} (per device under pmap).
    metrics, () float32 each: per player p "p_loss", "p_grad_norm", "p/<term>" (every aux of its loss; means over
    its updates), its `report`; "loss_finite" (1.0 when every loss and gradient is finite) and "batch_finite".
  """
  if not isinstance(model, Model):
    raise TypeError(f"make_general_step: model must be a jaxgan.train.general.Model, got {type(model).__name__}")
  num_slices = model.num_slices

  def pmean(tree):
    return tree if model.axis_name is None else jax.lax.pmean(tree, model.axis_name)

  def run_player(player, player_key, state, params, cols, opt_state, loss_state, slices):
    """One player's updates; returns its new params, own collections, optimizer and loss states, metrics."""

    def update(carry, sub, key):
      theta, own_cols, opt, ls = carry
      k_fwd, k_loss = jax.random.split(key)

      def loss_fn(theta):
        nets = Nets(model, {**params, **_net_params(player, theta)}, {**cols, **own_cols}, player.nets,
                    player=player.name, step=state.step)
        values = model.forward(nets, sub, k_fwd, player.name)
        if not isinstance(values, Mapping):
          raise ValueError(f"the model's forward must return a dict {{name: array}}, got {type(values).__name__} "
                           f"(player {player.name!r})")
        for name, x in values.items():
          if not (x is None or isinstance(x, (jax.Array, np.ndarray, np.generic, float, int))):
            raise ValueError(f"the forward's value {name!r} (player {player.name!r}) is a {type(x).__name__}; "
                             "values are arrays (or None): a term that needs a network calls "
                             "ctx.nets.function(net_name), or use view(..., d_fn=net_name)")
        ctx = LossContext(step=state.step, key=k_loss, player=player.name, axis_name=model.axis_name,
                          values=dict(values), nets=nets)
        value, aux, new_ls = player.loss.apply(ctx, ls)
        return value, (aux, new_ls, nets.own_collections(), dict(values))

      (value, (aux, ls, own_cols, values)), grads = jax.value_and_grad(loss_fn, has_aux=True)(theta)
      grads = pmean(grads)
      updates, opt = player.tx.update(grads, opt, theta)
      theta = optax.apply_updates(theta, updates)
      metrics = {f"{player.name}_loss": value, f"{player.name}_grad_norm": _global_norm(grads),
                 "finite": jnp.isfinite(value).astype(jnp.float32) * _all_finite(grads),
                 **_prefixed(player.name, aux)}
      report = dict(player.report(values)) if player.report is not None else {}
      return (theta, own_cols, opt, ls), metrics, report

    carry = (_player_params(player, params), {n: cols[n] for n in player.nets}, opt_state, loss_state)
    last = jax.tree.map(lambda x: x[-1], slices)
    if player.per_slice or player.steps > 1:
      def body(carry, xs):
        sub, i = xs
        carry, metrics, report = update(carry, last if sub is None else sub, jax.random.fold_in(player_key, i))
        return carry, (metrics, report)

      xs = (slices if player.per_slice else None, jnp.arange(player.steps))
      carry, (hist, reports) = jax.lax.scan(body, carry, xs)
      metrics = jax.tree.map(jnp.mean, hist)
      metrics["finite"] = jnp.min(hist["finite"])
      report = jax.tree.map(lambda x: x[-1], reports)
    else:
      carry, metrics, report = update(carry, last, player_key)
    return carry, metrics, report

  def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    _check_batch(batch, num_slices, presplit)
    slices = batch if presplit else _split(batch, num_slices)
    one = jax.tree.map(lambda x: x[0], slices)
    if model.check_batch is not None:
      model.check_batch(one)
    if check_state:
      check_state_fits(state.params, state.collections, model, one)
    key = jax.random.fold_in(state.key, state.step)
    player_keys = jax.random.split(key, len(model.players))
    params, cols = dict(state.params), dict(state.collections)
    opt_state, loss_state = dict(state.opt_state), dict(state.loss_state)
    metrics, loss_finite = {}, None
    for i, player in enumerate(model.players):
      (theta, own_cols, opt, ls), m, report = run_player(
          player, player_keys[i], state, params, cols, opt_state[player.name], loss_state[player.loss_name], slices)
      params.update(_net_params(player, theta))
      cols.update(own_cols)
      opt_state[player.name], loss_state[player.loss_name] = opt, ls
      finite = m.pop("finite")
      loss_finite = finite if loss_finite is None else loss_finite * finite
      metrics.update(m)
      metrics.update(report)
    ema = dict(state.ema_params)
    if model.ema_nets:
      decay = ema_decay_at(state.step, model.ema_decay, model.ema_rampup)
      for net in model.ema_nets:
        ema[net] = optax.incremental_update(params[net], ema[net], step_size=1.0 - decay)
    metrics = pmean({k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()})
    # The 0/1 flags are the minimum over devices, not the mean: one device's NaN shard makes the whole batch bad.
    flags = {"loss_finite": loss_finite, "batch_finite": _all_finite(batch)}
    metrics.update(flags if model.axis_name is None else jax.lax.pmin(flags, model.axis_name))
    for net in model.updated_nets:
      cols[net] = pmean(cols[net])
    new_state = state.replace(step=state.step + 1, params=params, collections=cols, opt_state=opt_state,
                              ema_params=ema, loss_state=loss_state)
    return new_state, metrics

  return step
