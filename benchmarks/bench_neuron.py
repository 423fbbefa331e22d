"""Neuron speed: fit time per Table X cell, the whole Table X, and fast path vs step loop.

Prints, from one run:
  * seconds to fit every Table X cell (both variants, N in 1..8, plus the N=8 no-decay
    ablation and Table VII) from an empty cache, the slowest cell and the total;
  * the fast path (staircase lookup) against the T-step loop on 10 million inputs, as a ratio.

Targets: one cell <= 20 s, the whole table <= 8 minutes, fast path >= 10x the loop.
Usage: python benchmarks/bench_neuron.py [--skip-table] [--inputs 10000000]
"""
import argparse
import os
import tempfile
import time

import torch


def bench_table(threads: int) -> None:
    from mbe.studies import neuron as neuron_study

    with tempfile.TemporaryDirectory() as cache:
        os.environ["MBE_CACHE_DIR"] = cache  # cold cache: every cell is really fitted
        start = time.perf_counter()
        table = neuron_study.table_x() + neuron_study.table_vii()
        total = time.perf_counter() - start
    fits = {(r["function"], tuple(r["domain"]), r["n_basis"], r["decay"], r["variant"]):
            r["fit_seconds"] for r in table}
    slowest = max(fits, key=fits.get)
    print(f"Table X + VII from a cold cache ({len(fits)} fits, {threads} threads): "
          f"{total:.0f} s total (target <= 480 s)")
    print(f"slowest fit: {slowest} {fits[slowest]:.1f} s (target <= 20 s)")
    for variant in ("paper", "best"):
        secs = [s for k, s in fits.items() if k[-1] == variant]
        print(f"  {variant:5s}: mean {sum(secs) / len(secs):.1f} s, max {max(secs):.1f} s")


def bench_fast_path(n_inputs: int) -> None:
    import mbe
    from mbe.core.dynamics import simulate

    neuron = mbe.fit("gelu", (-120, 10), 8, 16, progress=False)
    x = (torch.randn(n_inputs, generator=torch.Generator().manual_seed(0)) * 3).to(torch.float64)
    start = time.perf_counter()
    table = neuron.staircase
    build = time.perf_counter() - start
    start = time.perf_counter()
    fast = neuron(x)
    t_fast = time.perf_counter() - start
    kernels, readout = neuron.kernels(), neuron.readout()
    start = time.perf_counter()
    loop, _ = simulate(x, kernels, readout)
    t_loop = time.perf_counter() - start
    assert torch.equal(fast, loop), "fast path and simulation disagree"
    print(f"fast path vs step loop, GELU N=8 T=16, {n_inputs:,} float64 inputs: "
          f"lookup {t_fast:.2f} s, loop {t_loop:.2f} s, speed-up {t_loop / t_fast:.1f}x "
          f"(target >= 10x); one-off table build {build:.2f} s, {len(table.breaks) + 1:,} pieces")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-table", action="store_true", help="skip the cold Table X run")
    parser.add_argument("--inputs", type=int, default=10_000_000)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    bench_fast_path(args.inputs)
    if not args.skip_table:
        bench_table(threads)


if __name__ == "__main__":
    main()
