"""A resumable one-seed stream of ring-mixture batches, shared by the loop tests."""

from experiments.toy2d import MixtureStream
from jaxgan.data import synthetic


class RingStream:
  """{"image": (n, 2)} batches of seed 0 of the ring mixture, with state()/restore().

  MixtureStream yields (S, n, 2) for S seeds; the single-state loop takes (n, 2).
  """

  def __init__(self, n: int):
    self.inner = MixtureStream(synthetic.ring(), [0], n)

  def __iter__(self):
    return self

  def __next__(self):
    return {"image": next(self.inner)["image"][0]}

  def state(self):
    return self.inner.state()

  def restore(self, s):
    self.inner.restore(s)
