"""Fast path of each spiking operator vs its float operator on MiniLM-sized tensors.

    python benchmarks/bench_operators.py [--reps 7] [--threads 2]

Prints, per operator, the median wall time of the float op and of the operator's "mbe" fast
path (timed alternately in one run, after a warm-up call that fits/loads the neurons and builds
their tables), and their ratio. The bar: at most 5x for GELU (32x128x1536) and softmax
(32x12x128x128). A noisy, shared machine moves both timings; the alternation keeps the ratio
fair. Last measured ratios are in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mbe.ops import Activation, LayerNorm, Multiply, Softmax

BAR = 5.0


def cases():
    g = torch.Generator().manual_seed(0)
    x_ffn = torch.randn(32, 128, 1536, generator=g) * 1.5
    scores = torch.randn(32, 12, 128, 128, generator=g) * 3
    pad = torch.zeros(32, 1, 1, 128)
    pad[:, :, :, 100:] = torch.finfo(torch.float32).min  # BERT-style padding mask
    hidden = torch.randn(32, 128, 384, generator=g) * 2
    q, k = torch.randn(32, 12, 128, 64, generator=g), torch.randn(32, 12, 64, 128, generator=g)
    ln = torch.nn.LayerNorm(384, eps=1e-12)
    gelu, softmax = Activation("gelu", activation_basis=4), Softmax()
    layer_norm = LayerNorm.from_module(ln, input_range=(-12.0, 12.0))
    mul = Multiply((-6.0, 6.0), (-6.0, 6.0))
    return [
        ("gelu 32x128x1536", True, lambda: F.gelu(x_ffn), lambda: gelu(x_ffn)),
        ("softmax 32x12x128x128", True, lambda: torch.softmax(scores, -1),
         lambda: softmax(scores)),
        ("softmax + padding mask", False, lambda: torch.softmax(scores + pad, -1),
         lambda: softmax(scores, pad)),
        ("layernorm 32x128x384", False, lambda: ln(hidden), lambda: layer_norm(hidden)),
        ("matmul Q K^T 32x12x128x64", False, lambda: q @ k, lambda: mul.matmul(q, k)),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.reps} runs")
    print(f"{'operator':28s} {'warm-up s':>9s} {'float ms':>9s} {'mbe ms':>9s} {'ratio':>6s}  bar")
    failed = []
    with torch.no_grad():
        for name, barred, ref, fast in cases():
            t0 = time.perf_counter()
            fast()
            warm = time.perf_counter() - t0
            tf, tm = [], []
            for _ in range(args.reps):
                for fn, acc in ((ref, tf), (fast, tm)):
                    t0 = time.perf_counter()
                    fn()
                    acc.append(time.perf_counter() - t0)
            f_ms, m_ms = 1e3 * statistics.median(tf), 1e3 * statistics.median(tm)
            ratio = m_ms / f_ms
            verdict = ("ok" if ratio <= BAR else "MISSED") if barred else "-"
            if barred and ratio > BAR:
                failed.append(name)
            print(f"{name:28s} {warm:9.1f} {f_ms:9.1f} {m_ms:9.1f} {ratio:6.2f}  {verdict}")
    print(f"bar (<= {BAR:g}x on GELU and softmax): " + ("met" if not failed else
                                                        f"missed by {', '.join(failed)}"))


if __name__ == "__main__":
    main()
