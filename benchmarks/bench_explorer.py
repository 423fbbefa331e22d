"""Explorer redraw latency: a slider move re-evaluates the neuron and redraws every view.

Opens the explorer (`mbe.explore`) on GELU over (-6, 6) with 1,000 grid points, then makes
`--moves` seeded random slider moves (a tau_d, tau_r, tau_Vth or dt multiplier of a random
basis, to a random value in [1/2, 2], and the decay switch now and then), each exactly as a
widget change event runs in a notebook kernel: new neuron, simulation, all views redrawn,
PNG encoded. Prints the median and worst wall-clock and CPU seconds per move, how many moves
had to redraw the axes (a range the data left), and the ratio to the 0.5 s target. The
explorer pauses garbage collection until a move's figure has been sent; the collections that
then run between moves are timed separately and printed too.

Target: median move <= 0.5 s for N <= 8, T <= 16 on 1,000 points (2 threads).
Usage: python benchmarks/bench_explorer.py [--n-basis 8] [--timesteps 16] [--moves 30]
"""
import argparse
import gc
import os
import random
import statistics
import time

import torch

TARGET_S = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-basis", type=int, default=8)
    parser.add_argument("--timesteps", type=int, default=16)
    parser.add_argument("--points", type=int, default=1_000)
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import mbe

    start = time.perf_counter()
    ex = mbe.explore("gelu", (-6.0, 6.0), args.n_basis, args.timesteps, points=args.points)
    opened = time.perf_counter() - start
    rng = random.Random(args.seed)
    redraws, collections = [], []
    started = {}
    gc.callbacks.append(lambda phase, info: started.update(t=time.perf_counter())
                        if phase == "start"
                        else collections.append(time.perf_counter() - started["t"]))
    backgrounds = ex.panels._background
    relaid = 0
    for i in range(args.moves):
        ex.controls["basis"].value = rng.randrange(args.n_basis)
        name = rng.choice(["tau_d", "tau_r", "tau_vth", "dt"] + (["decay"] if i % 7 == 6 else []))
        value = (not ex.controls["decay"].value if name == "decay"
                 else round(2 ** rng.uniform(-1, 1), 2))
        wall, cpu = time.perf_counter(), time.process_time()
        ex.controls[name].value = value  # runs the handler, as a widget event does
        redraws.append((time.perf_counter() - wall, time.process_time() - cpu))
        relaid += ex.panels._background is not backgrounds
        backgrounds = ex.panels._background

    walls, cpus = [w for w, _ in redraws], [c for _, c in redraws]
    median = statistics.median(walls)
    print(f"explorer: gelu on (-6, 6), N={args.n_basis}, T={args.timesteps}, "
          f"{args.points:,} points, {args.threads} threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"open (fit from cache or fresh, first draw): {opened:.2f} s")
    print(f"slider move, wall: median {median:.3f} s, worst {max(walls):.3f} s "
          f"over {args.moves} moves")
    print(f"slider move, CPU:  median {statistics.median(cpus):.3f} s, worst {max(cpus):.3f} s")
    print(f"moves that redrew the axes (data left a held range): {relaid} of {args.moves}")
    print(f"garbage collection between moves: {len(collections)} runs, {sum(collections):.3f} s "
          f"in all, longest {max(collections, default=0):.3f} s")
    print(f"median move / target {TARGET_S} s: {median / TARGET_S:.2f}x "
          f"({'meets' if median <= TARGET_S else 'misses'} the target)")


if __name__ == "__main__":
    main()
