"""How long `mbe.convert` takes on all-MiniLM-L6-v2: from empty caches, then with warm ones.

Converts all-MiniLM-L6-v2 (64 real calibration sentences, batches of 32, up to 128 tokens,
as notebooks 03 and 05) with a configuration (default: calibrated fitting and per-channel
LayerNorm scales at T = 16, N = 8) twice in one process: first with an empty fit cache in a
temporary directory (every neuron fitted, calibrated fits included), then again with the cache
that run filled (every neuron loaded). Prints both times and the slowest single fit.

Targets: warm <= 10 s, cold <= 180 s, every single fit <= 20 s (2 threads).
Usage: python benchmarks/bench_convert_time.py [--threads 2] [--timesteps 16]
       [--activation-basis 8] [--uniform]
"""
import argparse
import os
import tempfile
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=16)
    parser.add_argument("--activation-basis", type=int, default=8)
    parser.add_argument("--uniform", action="store_true",
                        help="the default configuration (uniform fitting, one LayerNorm range)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = tempfile.TemporaryDirectory()
    os.environ["MBE_CACHE_DIR"] = cache.name  # read on every cache access: empty to begin

    import mbe
    from mbe.conversion import sites_of
    from mbe.studies import corpora, embeddings

    tokenizer, ann = corpora.load_encoder()
    calibration = embeddings.batches(tokenizer, corpora.real_sentences(64), 32, 128)
    fields = {} if args.uniform else {"fit_to": "calibration", "layernorm_scale": "channel"}
    config = mbe.ConversionConfig(timesteps=args.timesteps,
                                  activation_basis=args.activation_basis, **fields)
    print(f"all-MiniLM-L6-v2, 64 calibration sentences, {args.threads} threads, {config}",
          flush=True)
    times, fits = {}, []
    for label in ("cold", "warm"):
        start = time.perf_counter()
        snn, _ = mbe.convert(ann, calibration, config=config)
        times[label] = time.perf_counter() - start
        if label == "cold":  # each fitted neuron's own fit time (shared ones counted once)
            neurons = {id(p.neuron): p.neuron for site in sites_of(snn)
                       for op in site.spiking_ops().values()
                       for p in (op.fitted(n) for n in op.primitive_names)
                       if not getattr(p, "is_identity", False)}
            fits = sorted(n.meta.get("fit_seconds", 0.0) for n in neurons.values())
    print(f"convert, empty caches: {times['cold']:.1f} s (target <= 180 s); "
          f"{len(fits)} neurons fitted, the slowest in {fits[-1]:.1f} s (target <= 20 s)")
    print(f"convert, warm caches:  {times['warm']:.1f} s (target <= 10 s)")
    cache.cleanup()


if __name__ == "__main__":
    main()
