"""Stand-in for `benchmarks.reproduce` in the test of benchmarks/gpu_classics.sh: the same command line, no training.

`--todo` prints the row:seed items without a seed in <row>.json, seed by seed, as reproduce does (with
`--together`, one row:s1,s2 item per row). A run adds each seed to <row>.json (under a lock, as processes running
other seeds of the row add theirs), each seed taking 0.2 s; in rows named slow* seed 1 takes a minute. Each run
leaves sample grids and loss curves under runs/<row>/seed_<s>/, then a summary.json unless its row is named
unfinished*. The records note what the script passed (arguments, memory fraction, compilation cache) and which
process ran each seed.
"""

import argparse
import fcntl
import json
import os
import pathlib
import sys
import time


def _seeds(path: pathlib.Path) -> dict:
  return json.loads(path.read_text()) if path.is_file() else {}


def main() -> None:
  p = argparse.ArgumentParser()
  for name in ("--rows", "--seeds", "--out", "--data-dir", "--fid-batch", "--checkpoint-every", "--eval-lock",
               "--workers"):
    p.add_argument(name, default="")
  for flag in ("--plan", "--todo", "--table", "--skip-done", "--together"):
    p.add_argument(flag, action="store_true")
  a = p.parse_args()
  out = pathlib.Path(a.out)
  rows = [r for r in a.rows.split(",") if r]
  seeds = [int(s) for s in a.seeds.split(",") if s]
  if a.plan or a.todo:
    if "bad" in rows:
      sys.exit("error: unknown row 'bad'")
    done = {r: _seeds(out / f"{r}.json").get("seeds", []) for r in rows}
    if a.todo and a.together:  # one item per row with the seeds it still needs
      items = [f"{r}:{','.join(str(s) for s in seeds if s not in done[r])}" for r in rows]
      print("\n".join(i for i in items if not i.endswith(":")))
      return
    print("\n".join(f"{r}:{s}" for s in seeds for r in rows if s not in done[r]) if a.todo else "\n".join(rows))
    return
  if a.table:
    names = sorted(x.stem for x in out.glob("*.json"))
    (out / "results.md").write_text("".join(f"| {n} |\n" for n in names))
    return
  (row,) = rows
  for seed in seeds:
    time.sleep(60.0 if row.startswith("slow") and seed == 1 else 0.2)
    with open(pathlib.Path(a.eval_lock).with_name(f"{row}.lock"), "a") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      record = _seeds(out / f"{row}.json")
      record.update(row=row, data_dir=a.data_dir, fid_batch=a.fid_batch, checkpoint_every=a.checkpoint_every,
                    eval_lock=a.eval_lock, skip_done=a.skip_done, workers=a.workers, together=a.together,
                    mem_fraction=os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"),
                    cache=os.environ.get("JAX_COMPILATION_CACHE_DIR"))
      record["seeds"] = sorted(set(record.get("seeds", [])) | {seed})
      record.setdefault("pids", {})[str(seed)] = os.getpid()
      (out / f"{row}.json").write_text(json.dumps(record))
    run = out / "runs" / row / f"seed_{seed}"  # as the experiment leaves it: grids, curves, then the summary
    (run / "samples").mkdir(parents=True, exist_ok=True)
    for step in (999_999, 1_000_000):  # step_%06d: past a million the newest grid is not the last name
      (run / "samples" / f"step_{step:06d}.png").write_bytes(b"png")
    (run / "losses.png").write_bytes(b"png")
    if not row.startswith("unfinished"):
      (run / "summary.json").write_text("{}")
    print(f"{row} seed {seed}: ok", flush=True)


if __name__ == "__main__":
  main()
