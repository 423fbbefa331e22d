"""Converted MiniLM speed: fast mode and spike simulation against the ANN, in one run.

Prints, for all-MiniLM-L6-v2 on one batch of 32 real sentences padded to 128 tokens:
  * the forward times of the ANN, of the converted model in "mbe" mode (the fitted neurons'
    fast path, T=16) and in "spike" mode (the T-step simulation of every neuron,
    `mbe.core.simulator`): medians of `--repeats` rounds, each running all three in turn;
  * each mode's ratio to the ANN, and whether both modes agree exactly.

  * the sentence-embedding cosine between the SNN and the ANN in the chosen dtype.

--device runs everything there (e.g. cuda: the torch path; on the CPU the compiled loops),
--dtype converts a bfloat16 or float16 copy of the model, --path torch forces the torch path
on the CPU, --simd avx2 runs the compiled loops as on a CPU without AVX-512, --simd off
without any vector loop.
Targets: on the CPU mbe / ANN <= 2, spike / ANN <= 6 (2 threads); on a GPU mbe / ANN <= 1.5,
spike / ANN <= 4.
Usage: python benchmarks/bench_conversion.py [--threads 2] [--repeats 5] [--timesteps 16]
       [--device cpu] [--dtype float32] [--path auto] [--simd all]
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
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--path", default="auto", choices=["auto", "torch"])
    parser.add_argument("--simd", default="all", choices=["all", "avx2", "off"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import mbe
    from mbe.native import loader
    from mbe.studies import corpora

    loader.PATH = args.path
    loader.SIMD = {"all": True, "avx2": "avx2", "off": False}[args.simd]
    device = torch.device(args.device)
    tokenizer, ann = corpora.load_encoder()
    ann = ann.to(device=device, dtype=getattr(torch, args.dtype))
    sentences = corpora.real_sentences(64)

    def encode(texts):
        return dict(tokenizer(texts, padding="max_length", truncation=True, max_length=128,
                              return_tensors="pt").to(device))

    def forward(model, inputs):
        with torch.no_grad():
            out = model(**inputs)[0]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    calibration, batch = [encode(sentences[:32])], encode(sentences[32:])
    snn, report = mbe.convert(ann, calibration, args.timesteps, mode="mbe")
    status = loader.status()
    vector = {"all": "AVX-512" if status["avx512"] else "AVX2" if status["avx2"] else "none",
              "avx2": "AVX2" if status["avx2"] else "none", "off": "off"}[args.simd]
    print(f"all-MiniLM-L6-v2, batch 32 x 128 tokens, T={args.timesteps}, {args.dtype}, "
          f"{report.measured_on['device']} ({report.measured_on['path']} path, vector loops "
          f"{vector}), {args.threads} threads", flush=True)
    fast = forward(snn, batch)
    same = torch.equal(forward(mbe.set_mode(snn, "spike"), batch), fast)
    mask = batch["attention_mask"].unsqueeze(-1).to(torch.float64)
    pooled = [(out.double() * mask).sum(1) / mask.sum(1) for out in (forward(ann, batch), fast)]
    cosine = float(torch.cosine_similarity(*pooled).mean())
    t = alternating_medians({"ann": lambda: forward(ann, batch),
                             "mbe": lambda: forward(mbe.set_mode(snn, "mbe"), batch),
                             "spike": lambda: forward(mbe.set_mode(snn, "spike"), batch)},
                            args.repeats)
    targets = (1.5, 4) if device.type == "cuda" else (2, 6)
    print(f"ANN forward:             {t['ann']:.3f} s")
    print(f"SNN forward, mbe mode:   {t['mbe']:.3f} s   ratio {t['mbe'] / t['ann']:.2f}x "
          f"(target <= {targets[0]})")
    print(f"SNN forward, spike mode: {t['spike']:.3f} s   ratio {t['spike'] / t['ann']:.2f}x "
          f"(target <= {targets[1]}); identical to mbe mode: {same}")
    print(f"embedding cosine SNN vs ANN ({args.dtype}): {cosine:.6f}")

if __name__ == "__main__":
    main()
