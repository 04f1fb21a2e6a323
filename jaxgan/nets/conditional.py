"""Class conditioning shared by the generator and discriminator families.

* Generators: a learned label embedding concatenated to z (`embed_labels`).
* Discriminators, chosen by `conditioning`:
  - "projection" (Miyato & Koyama 2018, arXiv:1802.05637, eq. 3): `logit = w^T phi(x) + b + <embed(y), phi(x)>`,
    `project` below; the embedding has the width of the feature vector phi(x).
  - "concat": one-hot label maps appended to the input image as K extra channels (`concat_label_maps`), as in the
    conditional GAN of Mirza & Osindero 2014 (arXiv:1411.1784) applied to images.

Labels are int `(N,)` in `[0, K)`. Shape and dtype are checked at trace time; the range is checked only when the
labels are concrete (outside `jit`). Inside `jit` an out-of-range label (negative ones included) makes that
sample's output NaN rather than silently picking a class.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.nets import layers

CONDITIONINGS = ("projection", "concat")


def check_conditioning(num_classes: int, conditioning: str, who: str) -> None:
  """Raises ValueError for a negative `num_classes` or an unknown `conditioning`."""
  if num_classes < 0:
    raise ValueError(f"{who}: num_classes must be >= 0 (0 = unconditional), got {num_classes}")
  if conditioning not in CONDITIONINGS:
    raise ValueError(f"{who}: conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")


def check_labels(labels: jax.Array | None, batch_size: int, num_classes: int, who: str) -> jax.Array:
  """Validates class labels of a conditional model.

  Args:
    labels: int (N,) in [0, num_classes), or None.
    batch_size: N, the batch size of the other input.
    num_classes: K > 0.
    who: the model's name, for the messages.
  Returns:
    `labels` as an int32 array; traced labels outside [0, K) are replaced by K, which `embed_labels`, `project`
    and `concat_label_maps` turn into NaN outputs.
  Raises:
    ValueError: labels missing, not integer, not of shape (N,), or (when concrete) out of range.
  """
  expected = f"int labels of shape ({batch_size},) in [0, {num_classes})"
  if labels is None:
    raise ValueError(f"{who}: num_classes={num_classes}, so labels are required: {expected}")
  if not hasattr(labels, "dtype"):
    labels = np.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"{who}: expected {expected}, got dtype {labels.dtype}")
  if tuple(labels.shape) != (batch_size,):
    raise ValueError(f"{who}: expected {expected}, got shape {tuple(labels.shape)}")
  if isinstance(labels, (np.ndarray, jax.Array)) and not isinstance(labels, jax.core.Tracer):
    values = np.asarray(labels)
    if values.size and (values.min() < 0 or values.max() >= num_classes):
      raise ValueError(f"{who}: expected {expected}, got values in [{values.min()}, {values.max()}]")
  labels = jnp.asarray(labels, jnp.int32)
  return jnp.where((labels >= 0) & (labels < num_classes), labels, num_classes)


def embed_labels(z: jax.Array, labels: jax.Array, num_classes: int, embed_dim: int) -> jax.Array:
  """Concatenates a learned label embedding to z (call inside a compact method; creates `label_embed`).

  Args:
    z: (N, Z) float32.
    labels: int32 (N,), already checked.
    num_classes: K.
    embed_dim: E.
  Returns:
    (N, Z + E) float32.
  """
  emb = nn.Embed(num_classes, embed_dim, name="label_embed")(labels)
  return jnp.concatenate([z, emb.astype(z.dtype)], axis=-1)


def concat_label_maps(x: jax.Array, labels: jax.Array, num_classes: int) -> jax.Array:
  """Appends one-hot label maps as channels: (N, H, W, C) -> (N, H, W, C + K) float32."""
  n, h, w, _ = x.shape
  onehot = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)
  onehot = jnp.where((labels < num_classes)[:, None], onehot, jnp.nan)  # label K marks an invalid label
  return jnp.concatenate([x, jnp.broadcast_to(onehot[:, None, None, :], (n, h, w, num_classes))], axis=-1)


def project(
    phi: jax.Array, labels: jax.Array | None, num_classes: int, *, spectral_norm: bool = False, train: bool = True,
    head_bias: bool = True,
) -> jax.Array:
  """Linear head, plus the projection term when conditional (Miyato & Koyama 2018, arXiv:1802.05637, eq. 3).

  Call inside a compact method; creates `head` (Dense(1), spectrally normalized if asked) and, when
  `labels` is given, `class_embed` (Embed(K, D)). jaxgan does not normalize the class embedding.

  Args:
    phi: (N, D) float32 features.
    labels: int32 (N,), already checked, or None for the unconditional head.
    num_classes: K.
    spectral_norm: whether `head` is an `SNDense`.
    train: passed to `SNDense`.
    head_bias: whether `head` adds a bias.
  Returns:
    (N,) float32 logits `head(phi) + sum(class_embed[y] * phi, -1)`.
  """
  head = layers.dense(1, spectral_norm=spectral_norm, use_bias=head_bias, name="head")
  out = layers.call_layer(head, phi, train)[:, 0]
  if labels is None:
    return out
  emb = nn.Embed(num_classes, phi.shape[-1], name="class_embed")(labels)
  return out + jnp.sum(emb * phi, axis=-1)


def generator_inputs(
    z: jax.Array, labels: jax.Array | None, *, num_classes: int, embed_dim: int, who: str
) -> jax.Array:
  """Checks z (and labels when `num_classes > 0`) and returns the generator's input (call inside compact).

  Args:
    z: (N, Z) float32 latents.
    labels: int (N,) in [0, K) for a conditional generator; ignored when `num_classes == 0`.
    num_classes: K, 0 for unconditional.
    embed_dim: E, width of the label embedding.
    who: the model's name, for the messages.
  Returns:
    (N, Z) float32 z, or (N, Z + E) with the label embedding appended.
  Raises:
    ValueError: z is not 2D, or the labels are bad.
  """
  if z.ndim != 2:
    raise ValueError(f"{who}: expected z of shape (N, Z), got shape {tuple(z.shape)}")
  if num_classes == 0:
    return z
  labels = check_labels(labels, z.shape[0], num_classes, who)
  return embed_labels(z, labels, num_classes, embed_dim)


def discriminator_inputs(
    x: jax.Array, labels: jax.Array | None, *, resolution: int | None, num_classes: int, conditioning: str,
    who: str,
) -> tuple[jax.Array, jax.Array | None]:
  """Checks images (and labels when `num_classes > 0`) and applies input-side conditioning.

  The channel count is free (a packed discriminator, Lin et al. 2018 arXiv:1712.04086, sees m*C channels).

  Args:
    x: (N, H, W, C') float32 images, H = W = resolution (not checked when resolution is None).
    labels: int (N,) in [0, K); ignored when `num_classes == 0`.
    num_classes: K, 0 for unconditional.
    conditioning: "projection" or "concat".
    who: the model's name, for the messages.
  Returns:
    (x, labels): for "concat", x with K one-hot channels appended and labels None; for "projection", x unchanged
    and the checked int32 labels, to pass to `project`; for unconditional models (x, None).
  Raises:
    ValueError: bad image shape or bad labels.
  """
  if x.ndim != 4:
    raise ValueError(f"{who}: expected images of shape (N, H, W, C), got shape {tuple(x.shape)}")
  if resolution is not None and tuple(x.shape[1:3]) != (resolution, resolution):
    raise ValueError(
        f"{who}: built for resolution {resolution}, got images of shape {tuple(x.shape)} (N, H, W, C)")
  if num_classes == 0:
    return x, None
  labels = check_labels(labels, x.shape[0], num_classes, who)
  if conditioning == "concat":
    return concat_label_maps(x, labels, num_classes), None
  return x, labels
