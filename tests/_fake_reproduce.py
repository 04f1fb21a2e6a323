"""Stand-in for `benchmarks.reproduce` in the test of benchmarks/gpu_classics.sh: the same command line, no training.

A row writes <row>.json after every seed (as reproduce does), each seed taking 0.2 s; in rows named slow* every seed
after the first takes a minute;
the records note what the script passed (arguments, memory fraction, compilation cache) and which process ran it.
"""

import argparse
import json
import os
import pathlib
import sys
import time


def main() -> None:
  p = argparse.ArgumentParser()
  for name in ("--rows", "--seeds", "--out", "--data-dir", "--fid-batch", "--checkpoint-every", "--eval-lock"):
    p.add_argument(name, default="")
  p.add_argument("--plan", action="store_true")
  p.add_argument("--table", action="store_true")
  a = p.parse_args()
  out = pathlib.Path(a.out)
  if a.plan:
    rows = [r for r in a.rows.split(",") if r]
    if "bad" in rows:
      sys.exit("error: unknown row 'bad'")
    print("\n".join(rows))
    return
  if a.table:
    names = sorted(x.stem for x in out.glob("*.json"))
    (out / "results.md").write_text("".join(f"| {n} |\n" for n in names))
    return
  seeds = []
  for seed in a.seeds.split(","):
    time.sleep(60.0 if a.rows.startswith("slow") and seeds else 0.2)
    seeds.append(int(seed))
    record = {"row": a.rows, "seeds": seeds, "pid": os.getpid(), "data_dir": a.data_dir,
              "fid_batch": a.fid_batch, "checkpoint_every": a.checkpoint_every, "eval_lock": a.eval_lock,
              "mem_fraction": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"),
              "cache": os.environ.get("JAX_COMPILATION_CACHE_DIR")}
    (out / f"{a.rows}.json").write_text(json.dumps(record))
    print(f"{a.rows} seed {seed}: ok", flush=True)


if __name__ == "__main__":
  main()
