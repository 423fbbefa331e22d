"""Converted MiniLM speed: fast mode and spike simulation against the ANN, in one run.

Prints, for all-MiniLM-L6-v2 on one batch of 32 real sentences padded to 128 tokens:
  * the ANN forward time (median of `--repeats` runs),
  * the converted model's forward time in "mbe" mode (the fitted neurons' fast path, T=16) and
    in "spike" mode (the T-step simulation), each as a ratio to the ANN.

Targets: mbe / ANN <= 2, spike / ANN <= 6 (2 threads).
Usage: python benchmarks/bench_conversion.py [--threads 2] [--repeats 3] [--timesteps 16]
"""
import argparse
import statistics
import time

import torch


def timed(fn, repeats: int) -> float:
    """Median wall-clock seconds of `repeats` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import mbe
    from mbe.convert import embeddings, set_mode

    tokenizer, ann = embeddings.load_encoder(embeddings.MINILM)
    sentences = embeddings.real_sentences(64)
    encode = lambda s: dict(tokenizer(s, padding="max_length", truncation=True,  # noqa: E731
                                      max_length=128, return_tensors="pt"))
    calibration, batch = [encode(sentences[:32])], encode(sentences[32:])
    snn, _ = mbe.convert(ann, calibration, args.timesteps, mode="mbe")

    def forward(model):
        with torch.no_grad():
            return model(**batch)[0]

    print(f"all-MiniLM-L6-v2, batch 32 x 128 tokens, T={args.timesteps}, "
          f"{args.threads} threads", flush=True)
    t_ann = timed(lambda: forward(ann), args.repeats)
    t_mbe = timed(lambda: forward(snn), args.repeats)
    print(f"ANN forward:             {t_ann:.3f} s")
    print(f"SNN forward, mbe mode:   {t_mbe:.3f} s   ratio {t_mbe / t_ann:.2f}x (target <= 2)",
          flush=True)
    fast = forward(snn)
    set_mode(snn, "spike")
    start = time.perf_counter()
    spiking = forward(snn)
    t_spike = time.perf_counter() - start
    print(f"SNN forward, spike mode: {t_spike:.3f} s   ratio {t_spike / t_ann:.2f}x "
          f"(target <= 6); identical to mbe mode: {torch.equal(spiking, fast)}")


if __name__ == "__main__":
    main()
