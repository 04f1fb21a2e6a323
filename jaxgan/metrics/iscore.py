"""Inception Score (Salimans et al. 2016, arXiv:1606.03498): exp(E_x KL(p(y|x) || p(y))), over splits.

As in the original TF code (and StyleGAN2-ADA's `is50k`), the N samples are cut into `num_splits` consecutive
chunks; each chunk gives exp(mean_x KL(p(y|x) || mean_x p(y|x))), and the result is the mean and standard deviation
over chunks. p(y|x) is the softmax of the 2015 graph's 1008 logits without the classifier's bias (pool3 @ W, as the
original code computes them and `InceptionV3FID` returns them by default).

`unbiased=True` takes the softmax over classes 0..1000 only, dropping the seven unused outputs 1001..1007 of the
1008-way classifier (which the original code keeps). This is jaxgan's option, not torch-fidelity's
"logits_unbiased" (which removes the classifier's bias vector instead); numbers with it are not comparable with
published IS values. The computation runs in float64 on the host.
"""
from __future__ import annotations

import numpy as np
import scipy.special

NUM_REAL_CLASSES = 1001  # background + 1000 ImageNet classes; the 2015 graph has 7 more unused outputs


def inception_score(logits: np.ndarray, *, num_splits: int = 10, unbiased: bool = False) -> tuple[float, float]:
  """Inception Score from classifier logits.

  Args:
    logits: (N, K) logits, K = 1008 for the FID Inception (any K works when `unbiased` is False).
    num_splits: number of consecutive chunks (10 as in the original code); N must be >= num_splits.
    unbiased: drop classes 1001.. before the softmax (see the module docstring).
  Returns:
    (mean, std) of the score over splits.
  Raises:
    ValueError: bad shapes, non-finite logits, too few samples.
  """
  z = np.asarray(logits, np.float64)
  if z.ndim != 2:
    raise ValueError(f"inception_score: logits must be (N, K), got shape {z.shape}")
  if not np.all(np.isfinite(z)):
    raise ValueError("inception_score: logits contain NaN or inf")
  if num_splits < 1 or z.shape[0] < num_splits:
    raise ValueError(f"inception_score: need num_splits >= 1 and at least num_splits samples, got {z.shape[0]} "
                     f"samples and num_splits={num_splits}")
  if unbiased:
    if z.shape[1] < NUM_REAL_CLASSES:
      raise ValueError(f"inception_score: unbiased=True needs >= {NUM_REAL_CLASSES} logits, got {z.shape[1]}")
    z = z[:, :NUM_REAL_CLASSES]
  log_p = scipy.special.log_softmax(z, axis=1)
  n = log_p.shape[0]
  scores = []
  for i in range(num_splits):
    chunk = log_p[i * n // num_splits:(i + 1) * n // num_splits]
    p = np.exp(chunk)
    log_py = np.log(np.mean(p, axis=0))
    kl = np.sum(p * (chunk - log_py), axis=1)
    scores.append(np.exp(np.mean(kl)))
  return float(np.mean(scores)), float(np.std(scores))
