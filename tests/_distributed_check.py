"""One process of a multi-host check (run by tests/test_distributed.py).

Launched either as P processes (--num_processes P --process_id p --coordinator 127.0.0.1:PORT), each with
XLA_FLAGS=--xla_force_host_platform_device_count=D, or as one process with P*D devices (--num_processes 1). All
train the same WGAN-GP model for a few steps on the same global batches through the mesh-jit step, each process
feeding only its own rows of every D-step slice; the multi-process run also trains with pmap, saves an orbax
checkpoint from all processes and restores it. Process 0 writes a JSON result to --out.
"""

import argparse
import json

import numpy as np

from jaxgan.train import distributed

STEPS = 3
B = 8  # global examples per D step
D_STEPS = 2


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--coordinator", default=None)
  parser.add_argument("--num_processes", type=int, default=1)
  parser.add_argument("--process_id", type=int, default=0)
  parser.add_argument("--out", required=True)
  parser.add_argument("--ckpt", default=None)
  parser.add_argument("--pmap", action="store_true")
  parser.add_argument("--workdir", default=None, help="also run the host loop (jaxgan.train.loop) here")
  args = parser.parse_args()
  info = distributed.initialize(args.coordinator, args.num_processes, args.process_id)

  import jax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from jaxgan.losses.adversarial import wasserstein  # pylint: disable=g-import-not-at-top
  from jaxgan.losses.base import chain  # pylint: disable=g-import-not-at-top
  from jaxgan.losses.penalties import gradient_penalty  # pylint: disable=g-import-not-at-top
  from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator  # pylint: disable=g-import-not-at-top
  from jaxgan.train import parallel  # pylint: disable=g-import-not-at-top
  from jaxgan.train.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  from jaxgan.train.loop import LoopConfig, train  # pylint: disable=g-import-not-at-top
  from jaxgan.train.step import StepConfig, init_state  # pylint: disable=g-import-not-at-top

  g = MLPGenerator(hidden=(8,), out_shape=(4, 4, 1), batch_norm=False)
  d = MLPDiscriminator(hidden=(8,), maxout_pieces=1)
  cfg = StepConfig(latent_dim=4, d_steps=D_STEPS)
  loss = chain(wasserstein(), gradient_penalty(10.0))
  # eps 1e-4: Adam's default 1e-8 multiplies float noise in a near-zero gradient by up to lr / eps (see
  # _parallel_check._adam), and the processes sum the batch in another order than one process does.
  g_tx, d_tx = (optax.adam(1e-3, b1=0.5, b2=0.9, eps=1e-4), optax.adam(1e-3, b1=0.5, b2=0.9, eps=1e-4))

  rng = np.random.default_rng(0)
  global_batches = [rng.uniform(-1, 1, size=(D_STEPS * B, 4, 4, 1)).astype(np.float32) for _ in range(STEPS)]
  p, n_proc = info.process_index, info.process_count
  rows = B // n_proc

  def local(x):  # this process's part of every D-step slice
    return np.concatenate([x[i * B + p * rows:i * B + (p + 1) * rows] for i in range(D_STEPS)])

  host_state = jax.device_get(init_state(jax.random.key(3), g, d, loss, g_tx, d_tx, cfg,
                                         {"image": global_batches[0]}))
  mesh = parallel.make_mesh()
  step = parallel.make_mesh_step(g, d, loss, g_tx, d_tx, cfg, mesh)
  state = parallel.put_state(host_state, "mesh", mesh=mesh)
  for x in global_batches:
    state, metrics = step(state, parallel.shard_batch({"image": local(x)}, "mesh", d_steps=D_STEPS, mesh=mesh))
  out = {"process_count": n_proc, "device_count": info.device_count,
         "metrics": parallel.fetch_metrics(metrics, "mesh"),
         "g_params": [np.asarray(v).tolist() for v in jax.tree.leaves(state.g_params)],
         "d_params": [np.asarray(v).tolist() for v in jax.tree.leaves(state.d_params)]}

  if args.pmap:
    pstep = parallel.make_pmap_step(g, d, loss, g_tx, d_tx, cfg)
    pstate = parallel.put_state(host_state, "pmap")
    for x in global_batches:
      pstate, pmetrics = pstep(pstate, parallel.shard_batch({"image": local(x)}, "pmap", d_steps=D_STEPS))
    host = jax.device_get(parallel.unreplicate(pstate))
    out["pmap_g_params"] = [np.asarray(v).tolist() for v in jax.tree.leaves(host.g_params)]
    out["pmap_d_params"] = [np.asarray(v).tolist() for v in jax.tree.leaves(host.d_params)]
    out["pmap_metrics"] = parallel.fetch_metrics(pmetrics, "pmap")

  if args.ckpt:
    ckpt = Checkpointer(args.ckpt, config={"check": 1})
    ckpt.save(STEPS, state, {"note": "multi-process"})
    template = parallel.put_state(host_state, "mesh", mesh=mesh)
    restored, extra = Checkpointer(args.ckpt, config={"check": 1}).restore(template)
    same = [bool(np.array_equal(np.asarray(a), np.asarray(b)))
            for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state))
            if not jax.numpy.issubdtype(a.dtype, jax.dtypes.prng_key)]
    out["restored_equal"] = all(same) and len(same) > 0
    out["restored_step"] = int(np.asarray(restored.step))
    out["restored_sharding"] = str(jax.tree.leaves(restored.g_params)[0].sharding.spec)
    out["extra"] = extra.get("note")
    if args.pmap:
      # pmap state through the loop's placement: one copy saved by both processes, restored and re-replicated.
      dp = parallel.DataParallel.create("pmap", d_steps=D_STEPS)
      pdir = args.ckpt + "_pmap"
      Checkpointer(pdir, config={"check": 1}).save(STEPS, dp.checkpoint_state(pstate), {"note": "pmap"})
      p_restored, _ = Checkpointer(pdir, config={"check": 1}).restore(dp.checkpoint_state(dp.put_state(host_state)))
      back = jax.device_get(dp.host_state(dp.put_state(p_restored)))
      want = host  # the pmap state's copy fetched above
      same = [bool(np.array_equal(np.asarray(a), np.asarray(b)))
              for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(want))
              if not jax.numpy.issubdtype(a.dtype, jax.dtypes.prng_key)]
      out["pmap_restored_equal"] = all(same) and len(same) > 0

  if args.workdir:
    # The host loop on the mesh step: 5 steps with a checkpoint, then a resumed run to step 6. Only process 0
    # writes metrics.jsonl; every process takes part in the orbax checkpoints.
    def batches():
      loop_rng = np.random.default_rng(1)
      while True:
        x = loop_rng.uniform(-1, 1, size=(D_STEPS * B, 4, 4, 1)).astype(np.float32)
        yield parallel.shard_batch({"image": local(x)}, "mesh", d_steps=D_STEPS, mesh=mesh)

    fresh = parallel.put_state(host_state, "mesh", mesh=mesh)
    state5, _ = train(step, fresh, batches(), LoopConfig(num_steps=5, log_every=1, checkpoint_every=0),
                      workdir=args.workdir, config={"check": 2})
    fresh = parallel.put_state(host_state, "mesh", mesh=mesh)
    state6, records = train(step, fresh, batches(), LoopConfig(num_steps=6, log_every=1, checkpoint_every=0),
                            workdir=args.workdir, config={"check": 2})
    out["loop_steps"] = [int(np.asarray(state5.step)), int(np.asarray(state6.step))]
    out["loop_resumed_records"] = [r["step"] for r in records]

  distributed.assert_same_across_processes(np.asarray(out["metrics"]["d_loss"]), "d_loss")
  distributed.sync("done")
  if distributed.is_main_process():
    with open(args.out, "w") as f:
      json.dump(out, f)
  distributed.shutdown()


if __name__ == "__main__":
  main()
