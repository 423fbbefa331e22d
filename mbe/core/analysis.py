"""What a fitted neuron does, as data: error per basis and per time step, scoring grids.

Every function takes a neuron and plain tensors and returns tensors or dicts; `mbe.viz`
draws them. All evaluation is the float64 simulation (which equals the fast path exactly).
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import targets
from .distribution import InputDistribution
from .dynamics import simulate
from .neuron import F64, SpikingNeuron


def accumulated_outputs(neuron: SpikingNeuron, x: Tensor) -> Tensor:
    """o_n[t] for t = 0..T (Eq. 7, o_n[0] = 0): shape (T + 1, len(x), N)."""
    _, spikes = neuron.simulate(x.to(F64))  # (len(x), N, T)
    d = neuron.kernels().d.T  # (N, T)
    o = torch.cumsum(spikes * d, dim=-1).permute(2, 0, 1)
    return torch.cat([torch.zeros_like(o[:1]), o])


def partial_outputs(neuron: SpikingNeuron, x: Tensor) -> Tensor:
    """Decoded output after t = 0..T steps (Eq. 8 applied to o[t]): shape (T + 1, len(x))."""
    ro = neuron.readout()
    return (accumulated_outputs(neuron, x) * ro.weight).sum(-1) + ro.bias


def basis_contributions(neuron: SpikingNeuron, x: Tensor) -> Tensor:
    """w_n * o_n[T] for each basis: shape (N, len(x)). Their sum plus the bias is the output."""
    return (accumulated_outputs(neuron, x)[-1] * neuron.readout().weight).T


def error_by_basis_and_step(neuron: SpikingNeuron, target, x: Tensor) -> Tensor:
    """MSE against the target keeping bases 0..n and steps 0..t: shape (N, T).

    Entry [n, t] decodes sum_{m <= n} w_m o_m[t + 1] + b, so [N-1, T-1] is the neuron's MSE.
    """
    y = targets.evaluate(target, x.to(F64))
    weighted = accumulated_outputs(neuron, x)[1:] * neuron.readout().weight  # (T, X, N)
    partial = torch.cumsum(weighted, dim=-1) + neuron.readout().bias  # over bases
    return ((partial - y[None, :, None]) ** 2).mean(1).T


def mse(neuron: SpikingNeuron, target, x: Tensor) -> float:
    """Mean squared error of the neuron's output against the target on the points x.

    Evaluated by the float64 simulation without recording spikes (identical to the fast
    path's values, and cheaper than building its table for a one-off score).
    """
    x = x.to(F64)
    out, _ = simulate(x, neuron.kernels(), neuron.readout())
    return float(((out - targets.evaluate(target, x)) ** 2).mean())


def error_profile(neuron: SpikingNeuron, target, x: Tensor) -> dict:
    """Where on the points x the neuron errs, as plain numbers: its largest absolute error and
    where (x, target and output there), and over x < 0 and x >= 0 separately the MSE, with the
    lowest output over x < 0 (None where x has no such point)."""
    x = x.to(F64)
    out, _ = simulate(x, neuron.kernels(), neuron.readout())
    y = targets.evaluate(target, x)
    err = (out - y).abs()
    i = int(err.argmax())
    below, above = x < 0, x >= 0
    return {"max_abs_error": float(err[i]), "x_at_max_abs_error": float(x[i]),
            "target_at_max_abs_error": float(y[i]), "output_at_max_abs_error": float(out[i]),
            "mse_below_zero": float((err[below] ** 2).mean()) if below.any() else None,
            "mse_from_zero": float((err[above] ** 2).mean()) if above.any() else None,
            "min_output_below_zero": float(out[below].min()) if below.any() else None}


def firing_range(neuron: SpikingNeuron, x: Tensor) -> tuple[float, float] | None:
    """The lowest and highest of the points x at which any basis fires (None if none does)."""
    x = x.to(F64)
    fires = neuron.simulate(x)[1].flatten(1).any(1)
    return (float(x[fires].min()), float(x[fires].max())) if fires.any() else None


def input_error(neuron: SpikingNeuron, target, inputs: InputDistribution, n: int = 50_000,
                seed: int = 0) -> dict:
    """The neuron's error on real inputs: at n stratified draws of the inputs' distribution p
    alone (without the uniform share a fit adds), the relative RMS error
    ||f_hat - f|| / ||f|| and the largest absolute error."""
    x = inputs.real_inputs().draw(n, seed)
    out, _ = simulate(x, neuron.kernels(), neuron.readout())
    y = targets.evaluate(target, x)
    err = out - y
    return {"rel_rms": float(err.norm() / y.norm().clamp_min(1e-300)),
            "max_abs": float(err.abs().max())}


def scoring_points(name: str, domain: tuple[float, float], n: int = 100_001,
                   seed: int = 0) -> Tensor:
    """The points a fit is scored on.

    "uniform": a dense uniform grid over the domain (endpoints included);
    "normal_<s>": x ~ N(0, s^2) clipped to the domain (a realistic activation distribution);
    "uniform_<a>_<b>": a dense uniform grid over [a, b] (intersected with the domain).
    """
    lo, hi = domain
    if name == "uniform":
        return torch.linspace(lo, hi, n, dtype=F64)
    if name.startswith("normal_"):
        gen = torch.Generator().manual_seed(seed)
        sigma = float(name.split("_", 1)[1])
        return (sigma * torch.randn(n, generator=gen, dtype=F64)).clamp(lo, hi)
    if name.startswith("uniform_"):
        a, b = (float(v) for v in name.split("_")[1:3])
        return torch.linspace(max(a, lo), min(b, hi), n, dtype=F64)
    raise ValueError(f"unknown scoring {name!r}: use 'uniform', 'normal_<sigma>' or "
                     "'uniform_<lo>_<hi>'")


def error_vs_n_and_t(target, domain, n_values, t_values, *, points: int = 20_001,
                     **fit_options) -> Tensor:
    """MSE on a uniform grid for every (N, T): shape (len(n_values), len(t_values)).

    Uses `mbe.fit` (cached), so a grid that was seen before is instant.
    """
    from .fitting import fit

    x = scoring_points("uniform", domain, points)
    grid = torch.empty(len(n_values), len(t_values), dtype=F64)
    for i, n in enumerate(n_values):
        for j, t in enumerate(t_values):
            grid[i, j] = mse(fit(target, domain, n, t, progress=False, **fit_options), target, x)
    return grid
