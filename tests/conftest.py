"""Shared fixtures. Assets (../shared) are optional: tests that need them skip when absent."""
import os
import pathlib

import pytest


def _assets_dir() -> pathlib.Path | None:
  env = os.environ.get("JAXGAN_ASSETS")
  if env:
    path = pathlib.Path(env)
    if not path.is_dir():  # set on purpose: a wrong path fails instead of skipping every asset test
      pytest.fail(f"JAXGAN_ASSETS={env!r} is not a folder: point it at the shared assets or unset it", pytrace=False)
    return path
  beside = pathlib.Path(__file__).resolve().parents[1].parent / "shared"
  return beside if beside.is_dir() else None


@pytest.fixture(scope="session")
def assets() -> pathlib.Path:
  """The shared assets folder (JAXGAN_ASSETS or ../shared); skips the test when absent."""
  path = _assets_dir()
  if path is None:
    pytest.skip("shared assets not found: set JAXGAN_ASSETS or place ../shared beside the checkout")
  return path
