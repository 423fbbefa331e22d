"""Converted MiniLM speed: fast mode and spike simulation against the ANN, in one run.

Prints, for all-MiniLM-L6-v2 on one batch of 32 real sentences padded to 128 tokens:
  * the forward times of the ANN, of the converted model in "mbe" mode (the fitted neurons'
    fast path, T=16) and in "spike" mode (the T-step simulation of every neuron,
    `mbe.core.simulator`): medians of `--repeats` rounds, each running all three in turn;
  * each mode's ratio to the ANN, and whether both modes agree exactly.

Targets: mbe / ANN <= 2, spike / ANN <= 6 (2 threads).
Usage: python benchmarks/bench_conversion.py [--threads 2] [--repeats 5] [--timesteps 16]
"""
import argparse
import statistics
import time

import torch


def alternating_medians(fns: dict, repeats: int) -> dict:
    """Median wall-clock seconds of each function over `repeats` rounds (after one warm-up
    round); each round calls every function once, in turn, so the machine's slow spells
    fall on all of them alike."""
    times = {name: [] for name in fns}
    for round_ in range(repeats + 1):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timesteps", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import mbe
    from mbe.studies import corpora

    tokenizer, ann = corpora.load_encoder()
    sentences = corpora.real_sentences(64)

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
    fast = forward(snn, batch)
    same = torch.equal(forward(mbe.set_mode(snn, "spike"), batch), fast)
    t = alternating_medians({"ann": lambda: forward(ann, batch),
                             "mbe": lambda: forward(mbe.set_mode(snn, "mbe"), batch),
                             "spike": lambda: forward(mbe.set_mode(snn, "spike"), batch)},
                            args.repeats)
    print(f"ANN forward:             {t['ann']:.3f} s")
    print(f"SNN forward, mbe mode:   {t['mbe']:.3f} s   ratio {t['mbe'] / t['ann']:.2f}x "
          "(target <= 2)")
    print(f"SNN forward, spike mode: {t['spike']:.3f} s   ratio {t['spike'] / t['ann']:.2f}x "
          f"(target <= 6); identical to mbe mode: {same}")

if __name__ == "__main__":
    main()
