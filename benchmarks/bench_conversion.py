"""Converted MiniLM speed: fast mode and spike simulation against the ANN, in one run.

Prints, for all-MiniLM-L6-v2 on one batch of 32 real sentences padded to 128 tokens:
  * the ANN forward time (median of `--repeats` runs),
  * the converted model's forward time in "mbe" mode (the fitted neurons' fast path, T=16)
    and in "spike" mode (the T-step simulation of every neuron, `mbe.simulator`), each the
    median of `--repeats` runs and a ratio to the ANN, and whether both modes agree exactly.

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

    def encode(texts):
        return dict(tokenizer(texts, padding="max_length", truncation=True, max_length=128,
                              return_tensors="pt"))

    def forward(model, inputs):
        with torch.no_grad():
            return model(**inputs)[0]

    calibration, batch = [encode(sentences[:32])], encode(sentences[32:])
    snn, _ = mbe.convert(ann, calibration, args.timesteps, mode="mbe")
    print(f"all-MiniLM-L6-v2, batch 32 x 128 tokens, T={args.timesteps}, "
          f"{args.threads} threads", flush=True)
    t_ann = timed(lambda: forward(ann, batch), args.repeats)
    t_mbe = timed(lambda: forward(snn, batch), args.repeats)
    print(f"ANN forward:             {t_ann:.3f} s")
    print(f"SNN forward, mbe mode:   {t_mbe:.3f} s   ratio {t_mbe / t_ann:.2f}x (target <= 2)",
          flush=True)

    fast = forward(snn, batch)
    set_mode(snn, "spike")
    same = torch.equal(forward(snn, batch), fast)
    t_spike = timed(lambda: forward(snn, batch), args.repeats)
    print(f"SNN forward, spike mode: {t_spike:.3f} s   ratio {t_spike / t_ann:.2f}x "
          f"(target <= 6); identical to mbe mode: {same}")


if __name__ == "__main__":
    main()
