"""Fitting a neuron to a scalar target: the paper's recipe and the best variant.

`fit(target, domain, n_basis, timesteps, variant=...)` returns a fitted `MBENeuron` (or
`FSNeuron` with `neuron="fs"`). Both variants are one `FitConfig`; every departure of the best
variant from the paper is a named field, so any mix can be asked for by keyword:

    mbe.fit("exp2", (0, 1), 8, 16)                          # best variant
    mbe.fit("exp2", (0, 1), 8, 16, variant="paper")         # the paper's recipe (Sec. 2)
    mbe.fit("exp2", (0, 1), 8, 16, variant="paper", bias=True)  # paper + one option
    mbe.fit("exp2", (0, 1), 8, 16, decay=False)             # the no-decay ablation

The paper's recipe: M = 10,000 uniform samples, Adam at lr 0.01 for 200 full-batch epochs
with an exponential learning-rate decay of 0.99 per epoch, MSE loss, a surrogate gradient for
H, one alpha (the target's maximum) shared by d, r and Vth of every basis, u_n[0] = x, learned
w, no bias (appendix G.1 as transcribed; docs/decisions.md lists what the paper leaves open).

The best variant starts from "ramp" bases: with halving kernels a basis is a 2^T-level
quantiser of (x - c_n) / span_n clipped to [0, 1), so the readout sum is a piecewise-linear
spline. Knots, spans and polarities (a basis fed -x) are chosen greedily by orthogonal
matching pursuit over a candidate grid, the readout (w, bias) is solved by least squares,
and all kernel parameters are then polished by surrogate-gradient descent with the readout
re-solved at every step (variable projection), keeping the best exact loss seen.
"""
from __future__ import annotations

import hashlib
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import Tensor
from tqdm.auto import tqdm

from . import registry, simulator, targets
from .distribution import DEFAULT_COVERAGE, InputDistribution
from .dynamics import Kernels, Readout, heaviside, run_bases
from .neuron import F64, FSNeuron, MBENeuron, mbe_kernels

FORMAT_VERSION = 3  # 3: fits run on FIT_THREADS threads

#: Every fit runs on this many torch threads, whatever the caller uses, and restores the
#: caller's setting. torch's float64 reductions round differently on different thread counts,
#: and 200 epochs of optimisation amplify that last bit into a different neuron; with the
#: count fixed, a seed gives the same neuron in a notebook, a test or the explorer, on any
#: machine.
FIT_THREADS = 2


#: The allowed values of every discrete fit option (one table: `FitConfig` validates against
#: it, the explorer offers it).
OPTION_CHOICES = {"alpha": ("shared", "per_basis"),
                  "input_map": ("identity", "affine", "signed_affine"),
                  "bias": (False, True),
                  "readout": ("gradient", "lstsq"),
                  "decay": (False, True),
                  "init": ("halving", "ramps"),
                  "surrogate": ("fast_sigmoid", "atan")}


@dataclass(frozen=True)
class FitConfig:
    """Every choice that determines a fit. See docs/decisions.md for what each one buys."""

    alpha: str = "per_basis"      # "shared": one alpha = max f for d, r, Vth (paper)
    input_map: str = "signed_affine"  # "identity": u[0] = x (paper); "affine"; "signed_affine"
    bias: bool = True             # output bias b in f_hat = sum w o + b (paper: none)
    readout: str = "lstsq"        # "gradient": w learned by Adam (paper); "lstsq": solved
    decay: bool = True            # exponential decay of the kernels (False: ablation)
    init: str = "ramps"           # "halving" (paper variant); "ramps": greedy spline bases
    surrogate: str = "fast_sigmoid"
    width: tuple[float, float] = (0.1, 0.1)  # surrogate width, annealed geometrically
    samples: int = 10_000
    epochs: int = 200
    lr: float = 0.01
    lr_decay: float = 0.99

    def __post_init__(self):
        for name, allowed in OPTION_CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"fit option {name}={getattr(self, name)!r} is not one of "
                                 f"{allowed}")
        if self.init == "ramps" and self.input_map == "identity":
            raise ValueError("init='ramps' places each basis with an input map: use "
                             "input_map='affine' or 'signed_affine', or init='halving'")


VARIANTS = {
    "paper": FitConfig(alpha="shared", input_map="identity", bias=False, readout="gradient",
                       init="halving"),
    "best": FitConfig(width=(0.3, 0.01), lr=0.03),
}


def config_for(variant: str = "best", **options) -> FitConfig:
    """The named variant's configuration with `options` overriding single fields."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: use one of {sorted(VARIANTS)}")
    names = {f.name for f in fields(FitConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"unknown fit option(s) {unknown}: valid options are {sorted(names)}")
    return replace(VARIANTS[variant], **options)


# -- surrogate spike functions ----------------------------------------------------------------
class _Spike(torch.autograd.Function):
    """Forward: exact Heaviside (so every loss is the true staircase's). Backward: surrogate."""

    @staticmethod
    def forward(ctx, v, width, kind):
        ctx.save_for_backward(v)
        ctx.width, ctx.kind = width, kind
        return heaviside(v)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        z = v / ctx.width
        if ctx.kind == "atan":
            g = 1.0 / (1.0 + (math.pi * z) ** 2)
        else:  # fast sigmoid
            g = 1.0 / (1.0 + z.abs()) ** 2
        return grad * g / ctx.width, None, None


def _spike_fn(width: float, kind: str):
    return lambda v: _Spike.apply(v, width, kind)


# -- parametrisation ----------------------------------------------------------------------------
class _Params:
    """Unconstrained tensors for one MBE neuron; `neuron_parts` maps them to Eq. 4 quantities.

    tau and dt and the amplitudes live in log space (positive); the input map is shift c_n and
    log gain with a fixed sign per basis (the polarity).
    """

    def __init__(self, tau, dt, alpha, scale, shift, weight, bias, cfg: FitConfig, amp: float):
        self.cfg, self.amp = cfg, amp
        self.log_tau = tau.log().clone().requires_grad_()
        self.log_dt = dt.log().clone().requires_grad_()
        # a_d is redundant with the readout w: only the reset and threshold amplitudes learn
        self.log_alpha_d = alpha[:1].log().clone()
        self.log_alpha_rv = alpha[1:].log().clone().requires_grad_(cfg.alpha == "per_basis")
        self.sign = torch.sign(scale)
        self.log_gain = scale.abs().log().clone().requires_grad_(cfg.input_map != "identity")
        self.shift = shift.clone().requires_grad_(cfg.input_map != "identity")
        self.weight = weight.clone().requires_grad_(cfg.readout == "gradient")
        self.bias = bias.clone().requires_grad_(cfg.readout == "gradient" and cfg.bias)

    def trainable(self) -> list[Tensor]:
        return [p for p in (self.log_tau, self.log_dt, self.log_alpha_rv, self.log_gain,
                            self.shift, self.weight, self.bias) if p.requires_grad]

    def n_parameters(self) -> int:
        """Learned numbers: the trainable tensors plus a least-squares readout's (w, b)."""
        solved = (self.weight.numel() + int(self.cfg.bias)) if self.cfg.readout == "lstsq" else 0
        return sum(p.numel() for p in self.trainable()) + solved

    def parts(self, timesteps: int) -> tuple[Kernels, Readout]:
        kern = mbe_kernels(self.log_tau.exp(), self.log_dt.exp(), self.alpha(), timesteps,
                           self.cfg.decay)
        ro = Readout(self.sign * self.log_gain.exp(), self.shift, self.weight, self.bias)
        return kern, ro

    def alpha(self) -> Tensor:
        return torch.cat([self.log_alpha_d, self.log_alpha_rv]).exp()

    def snapshot(self) -> dict:
        return {k: v.detach().clone() for k, v in vars(self).items() if isinstance(v, Tensor)}

    def restore(self, snap: dict) -> None:
        with torch.no_grad():
            for k, v in snap.items():
                getattr(self, k).copy_(v)


def _lstsq(features: Tensor, y: Tensor, bias: bool) -> tuple[Tensor, Tensor]:
    """Least-squares readout (w, b) for features (M, N), differentiable (ridge 1e-10)."""
    a = torch.cat([features, torch.ones_like(features[:, :1])], 1) if bias else features
    gram = a.T @ a
    ridge = 1e-10 * (gram.diagonal().mean() + 1e-30) * torch.eye(len(gram), dtype=a.dtype)
    sol = torch.linalg.solve(gram + ridge, a.T @ y)
    return (sol[:-1], sol[-1]) if bias else (sol, torch.zeros((), dtype=a.dtype))


def _loss(params: _Params, x: Tensor, y: Tensor, timesteps: int, spike) -> tuple[Tensor, Readout]:
    kern, ro = params.parts(timesteps)
    o = run_bases(x, kern, ro, spike=spike)[0]
    if params.cfg.readout == "lstsq":
        w, b = _lstsq(o, y, params.cfg.bias)
        ro = ro._replace(weight=w, bias=b)
    pred = (o * ro.weight).sum(-1) + ro.bias
    return ((pred - y) ** 2).mean(), ro


# -- initialisations -----------------------------------------------------------------------------
# Basis shapes (nu, kappa, delta): thresholds decay by nu per step, resets are kappa times the
# threshold, and d decays delta faster (in log) than r. (0.5, 1, 0) is the halving quantiser,
# a linear ramp with 2^T levels; the others bend it (a convex or concave ramp), which lets a
# single basis beat a straight line.
RAMP_SHAPES = ((0.5, 1.0, 0.0), (0.55, 0.6, -0.3), (0.55, 0.6, 0.3), (0.6, 0.8, -0.15),
               (0.6, 0.8, 0.15))


def _ramp_kernels(shape: Tensor, timesteps: int, decay: bool) -> tuple[Tensor, Tensor, Tensor]:
    """tau, dt, alpha of ramp bases with shapes (C, 3) as in RAMP_SHAPES.

    With u[0] = (x - c) / span, the halving shape quantises u to 2^T levels on [0, 1); without
    decay every shape becomes threshold = reset = 1/T, counting floor(T u) spikes (T levels).
    """
    n = len(shape)
    dt = torch.ones(n, dtype=F64)
    if not decay:
        amp = torch.tensor([1.0, 1.0 / timesteps, 1.0 / timesteps], dtype=F64)
        return torch.ones(3, n, dtype=F64), dt, amp[:, None].repeat(1, n)
    nu, kappa, delta = shape.T
    lam = -nu.log()
    tau = torch.stack([1.0 / (lam + delta), 1.0 / lam, 1.0 / lam])
    alpha = torch.stack([torch.ones(n, dtype=F64), 0.5 * kappa, torch.full((n,), 0.5,
                                                                           dtype=F64)])
    return tau, dt, alpha


def _ramp_candidates(fn, lo: float, hi: float, inputs: InputDistribution | None = None,
                     n_knots: int = 48):
    """(shift, scale, shape) of candidate ramps: knots where the target bends, many spans.

    Knots are quantiles of |f''|^(2/5) (the density that equalises a linear spline's error)
    mixed 70/30 with a uniform density, plus both ends and 0 when it lies inside. Fitted to
    a distribution q of inputs, the knot density is (q f''^2)^(1/5) (the density that
    minimises a linear spline's squared error under q) mixed 70/30 with q, and the spans
    include fractions of the width the real inputs occupy (their 1 % to 99 % quantiles).
    """
    g = torch.linspace(lo, hi, 4097, dtype=F64)
    yg = targets.evaluate(fn, g)
    curv = (yg[2:] - 2 * yg[1:-1] + yg[:-2]).abs() / (g[1] - g[0]) ** 2
    if inputs is None:
        dens = curv ** 0.4
        dens = 0.7 * dens / dens.sum().clamp_min(1e-300) + 0.3 / len(dens)
        widths = [hi - lo]
    else:
        below = inputs.cdf(g)
        q = (below[2:] - below[:-2]) / (g[2:] - g[:-2])  # q at the inner grid points
        dens = (q * curv**2) ** 0.2
        dens = 0.7 * dens / dens.sum().clamp_min(1e-300) + 0.3 * q / q.sum()
        low, high = inputs.input_quantiles(torch.tensor([0.01, 0.99], dtype=F64)).tolist()
        widths = [hi - lo, high - low] if high > low else [hi - lo]
    cdf = torch.cat([torch.zeros(1, dtype=F64), dens.cumsum(0)])
    qs = torch.linspace(0, 1, n_knots + 2, dtype=F64)[1:-1]
    inner = g[1:][torch.searchsorted(cdf, qs).clamp(max=len(g) - 2)]
    knots = torch.cat([torch.tensor([lo, hi], dtype=F64), inner])
    if lo < 0 < hi:
        knots = torch.cat([knots, torch.zeros(1, dtype=F64)])
    rows = []
    for c in torch.unique(knots).tolist():
        for sign, room in ((1.0, hi - c), (-1.0, c - lo)):
            if room <= 0:
                continue
            spans = {room} | {f * w for w in widths for f in (0.5, 0.25, 0.1, 0.03)
                              if f * w < room}
            rows += [(c, sign / span, *RAMP_SHAPES[0]) for span in sorted(spans)]
            rows += [(c, sign / span, *shape) for shape in RAMP_SHAPES[1:]
                     for span in (room, 2 * room)]
    table = torch.tensor(rows, dtype=F64)
    return table[:, 0], table[:, 1], table[:, 2:]


def _best_addition(feats: Tensor, chosen: list[int], y: Tensor, bias: bool) -> int:
    """Index of the candidate column that most reduces the least-squares residual of y."""
    cols = [feats[:, chosen]] + ([torch.ones_like(y)[:, None]] if bias else [])
    q = torch.linalg.qr(torch.cat(cols, 1)).Q
    resid = y - q @ (q.T @ y)
    f = feats - q @ (q.T @ feats)
    norm = f.norm(dim=0)
    gain = torch.where(norm > 1e-9 * norm.max(), (f.T @ resid) / norm, 0.0) ** 2
    gain[chosen] = -1.0
    return int(gain.argmax())


def _ramp_features(x: Tensor, kern: Kernels, shifts: Tensor, scales: Tensor) -> Tensor:
    """o_n[T] of every candidate ramp n on x, (M, C): what `run_bases` gives with the
    candidates as bases, computed one candidate at a time by the simulation
    (`mbe.core.simulator.run`, in C where it loaded), whose decoded output with weight 1 and
    bias 0 is o_n[T] bit for bit, several times faster than stepping the (M, C) tensor in
    torch."""
    feats = torch.empty(len(x), len(shifts), dtype=F64)
    one, zero = torch.ones(1, dtype=F64), torch.zeros((), dtype=F64)
    whole = (-math.inf, math.inf)
    for i in range(len(shifts)):
        column = Kernels(kern.d[:, i:i + 1], kern.r[:, i:i + 1], kern.vth[:, i:i + 1])
        readout = Readout(scales[i:i + 1], shifts[i:i + 1], one, zero)
        feats[:, i] = simulator.run(column, readout, x, whole).values
    return feats


def _greedy_ramps(fn, x, y, n_basis, timesteps, cfg: FitConfig, lo, hi, inputs):
    """Orthogonal matching pursuit over candidate ramps: (tau, dt, alpha, shift, scale)."""
    shifts, scales, shapes = _ramp_candidates(fn, lo, hi, inputs)
    keep = (scales > 0) if cfg.input_map == "affine" else torch.ones_like(scales, dtype=bool)
    if not cfg.decay:  # without decay every shape is the same counter: keep one of each
        keep &= (shapes == shapes[0]).all(1)
    shifts, scales, shapes = shifts[keep], scales[keep], shapes[keep]
    tau, dt, alpha = _ramp_kernels(shapes, timesteps, cfg.decay)
    kern = mbe_kernels(tau, dt, alpha, timesteps, cfg.decay)
    feats = _ramp_features(x, kern, shifts, scales)
    chosen: list[int] = []
    for _ in range(n_basis):  # forward selection ...
        chosen.append(_best_addition(feats, chosen, y, cfg.bias))
    for _ in range(2):  # ... then two passes of swaps, each basis re-picked given the others
        for i in range(n_basis):
            chosen[i] = _best_addition(feats, chosen[:i] + chosen[i + 1:], y, cfg.bias)
    return tau[:, chosen], dt[chosen], alpha[:, chosen], shifts[chosen], scales[chosen]


def _init_params(fn, x, y, n_basis, timesteps, cfg: FitConfig, domain, inputs) -> _Params:
    lo, hi = domain
    # the paper's alpha: "the target function's maximum value" (of |f|, on a grid with ends)
    grid = torch.linspace(lo, hi, 10_001, dtype=F64)
    amp = float(targets.evaluate(fn, grid).abs().max()) if cfg.alpha == "shared" else 1.0
    n = n_basis
    if cfg.init == "ramps":
        tau, dt, alpha, shift, scale = _greedy_ramps(fn, x, y, n, timesteps, cfg, lo, hi,
                                                     inputs)
    else:  # "halving": binary kernels, slower decays for later bases (breaks the symmetry)
        lam = math.log(2.0) * (1.0 - 0.5 * torch.arange(n, dtype=F64) / n)
        dt = torch.ones(n, dtype=F64)
        tau = (1.0 / lam)[None].repeat(3, 1)
        alpha = torch.full((3, n), 1.0, dtype=F64)
        if cfg.input_map == "identity":
            scale, shift = torch.ones(n, dtype=F64), torch.zeros(n, dtype=F64)
        else:
            scale = torch.full((n,), 1.0 / (hi - lo), dtype=F64)
            shift = torch.full((n,), float(lo), dtype=F64)
    if cfg.alpha == "shared":
        alpha = torch.full((3, n), amp, dtype=F64)
    weight = torch.full((n,), 1.0 / n, dtype=F64)
    bias = torch.zeros((), dtype=F64)
    return _Params(tau, dt, alpha, scale, shift, weight, bias, cfg, amp)


# -- the optimisation loop (MBE and FS alike) --------------------------------------------------
def _optimise(params, loss, unit: float, cfg: FitConfig, progress: bool, desc: str):
    """The training loop of every fit: Adam at cfg.lr with exponential decay cfg.lr_decay for
    cfg.epochs full-batch epochs, the surrogate's width annealed geometrically from
    unit * width[0] to unit * width[1], keeping the parameters of the best exact loss seen.

    params has trainable(), snapshot() and restore(); loss(spike) is the MSE with that spike
    function. Returns (the loss per epoch, the best loss); params holds the best on return.
    """
    opt = torch.optim.Adam(params.trainable(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    w0, w1 = cfg.width
    best = (math.inf, params.snapshot())
    history = []
    bar = tqdm(range(cfg.epochs + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        frac = epoch / max(cfg.epochs, 1)
        value_t = loss(_spike_fn(unit * w0 * (w1 / w0) ** frac, cfg.surrogate))
        value = float(value_t.detach())
        history.append(value)
        if value < best[0]:
            best = (value, params.snapshot())
        if epoch == cfg.epochs or not math.isfinite(value):
            break
        opt.zero_grad()
        value_t.backward()
        opt.step()
        sched.step()
        bar.set_postfix(mse=f"{best[0]:.3g}")
    params.restore(best[1])
    return history, best[0]


def kept_epoch(history: list[float]) -> int:
    """The epoch whose parameters a fit returns (`_optimise` keeps the lowest finite loss, the
    first one on a tie); 0 is the initialisation, before any training step."""
    return min((v, i) for i, v in enumerate(history) if math.isfinite(v))[1]


def _samples(target, domain, n: int, seed: int,
             inputs: InputDistribution | None = None) -> tuple[Tensor, Tensor]:
    """n training inputs, uniform on the domain or drawn from `inputs`, and the target's
    values there."""
    if inputs is None:
        gen = torch.Generator().manual_seed(seed)
        lo, hi = domain
        x = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=F64)
    else:
        x = inputs.draw(n, seed)
    return x, targets.evaluate(target, x)


def _cache_key(name: str, y: Tensor, domain, n_basis, timesteps, kind, cfg, seed, init,
               inputs: InputDistribution | None = None) -> dict:
    key = {"format": FORMAT_VERSION, "neuron": kind, "target": name,
           "target_sha256": hashlib.sha256(y.numpy().tobytes()).hexdigest(),
           "domain": [float(domain[0]), float(domain[1])], "n_basis": n_basis,
           "timesteps": timesteps, "config": asdict(cfg), "seed": seed, "init": init}
    if inputs is not None:  # uniform fits keep the keys they always had
        key["inputs"] = inputs.key()
    return key


def input_distribution(domain, inputs=None, weights=None,
                       coverage: float = DEFAULT_COVERAGE) -> InputDistribution | None:
    """The distribution a fit targets: None (uniform on the domain) when neither `inputs`
    (observed input values) nor `weights` (a histogram `(edges, counts)`) is given."""
    if inputs is not None and weights is not None:
        raise ValueError("give inputs= (observed input values) or weights= (a histogram "
                         "(edges, counts)), not both")
    if inputs is not None:
        return InputDistribution.from_samples(inputs, domain, coverage)
    if weights is not None:
        if isinstance(weights, InputDistribution):
            return weights
        if not (isinstance(weights, (tuple, list)) and len(weights) == 2):
            raise TypeError("weights must be a histogram (edges, counts), e.g. "
                            "mbe.ranges.Histogram().bins(), or an InputDistribution")
        return InputDistribution(*weights, domain, coverage)
    return None


@torch.enable_grad()  # fitting differentiates, even when called under torch.no_grad()
def fit(target, domain, n_basis: int = 4, timesteps: int = 16, *, seed: int = 0,
        variant: str = "best", neuron: str = "mbe", init: str | None = None,
        cache: bool = True, progress: bool = True, inputs=None, weights=None,
        coverage: float = DEFAULT_COVERAGE, **options):
    """Fit a neuron to `target` (a name from `mbe.core.targets.TARGETS` or a callable) on `domain`.

    Returns a fitted `MBENeuron` (or `FSNeuron` for neuron="fs", where `init` is "binary" or
    "random" and `n_basis` is ignored). Deterministic for a seed. Fitted neurons are cached on
    disk (`mbe.core.registry`) under a key of everything that determines them; `cache=False` refits.
    The neuron's `meta` holds the configuration, the training MSE history and fit seconds.

    The objective is the mean squared error on uniform samples of the domain (the paper's),
    unless the inputs the neuron will see are given: `inputs=` a tensor of observed input
    values, or `weights=` a histogram `(edges, counts)` of them (or an `InputDistribution`).
    The fit then minimises the squared error under (1 - coverage) p + coverage * uniform, p
    their distribution (`mbe.core.distribution`): where the inputs are, while every part of
    the domain keeps a `coverage` share of the weight. The distribution is part of the cache
    key. (`samples=` is the fit option M, the number of training samples.)
    """
    lo, hi = float(domain[0]), float(domain[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"domain must be two finite numbers lo < hi, got {domain!r}")
    if timesteps < 1 or n_basis < 1:
        raise ValueError(f"need timesteps >= 1 and n_basis >= 1, got T={timesteps}, "
                         f"N={n_basis}")
    if neuron not in ("mbe", "fs"):
        raise ValueError(f"neuron must be 'mbe' or 'fs', got {neuron!r}")
    name, fn = targets.resolve(target)
    if neuron == "fs":
        cfg = config_for("paper", **options)
        init = init or "binary"
        n_basis = 1
    else:
        cfg = config_for(variant, **options)
        cfg = replace(cfg, init=init or cfg.init)
        init = cfg.init
    dist = input_distribution((lo, hi), inputs, weights, coverage)
    x, y = _samples(fn, (lo, hi), cfg.samples, seed, dist)
    key = _cache_key(name, y, (lo, hi), n_basis, timesteps, neuron, cfg, seed, init, dist)
    if cache:
        hit = registry.load(key)
        if hit is not None:
            return hit
    torch.manual_seed(seed)
    start = time.perf_counter()
    desc = f"fit {name} N={n_basis} T={timesteps} on [{lo:g}, {hi:g}]"
    with pinned_threads():
        if neuron == "fs":
            fitted = _fit_fs(x, y, timesteps, cfg, init, (lo, hi), seed, progress, desc)
        else:
            fitted = _fit_mbe(fn, x, y, n_basis, timesteps, cfg, (lo, hi), progress, desc,
                              dist)
    fitted.meta.update({"target": name, "variant": variant if neuron == "mbe" else "fs",
                        "config": asdict(cfg), "seed": seed, "init": init,
                        "fit_seconds": time.perf_counter() - start})
    if dist is not None:
        fitted.meta["objective"] = dist.describe()
    if cache:
        registry.save(key, fitted)
    return fitted


@contextmanager
def pinned_threads():
    """Run the enclosed optimisation (a neuron's fit; a stand-in model's training,
    `mbe.studies.training`) on FIT_THREADS torch threads, then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(FIT_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_mbe(fn, x, y, n_basis, timesteps, cfg, domain, progress, desc, inputs) -> MBENeuron:
    params = _init_params(fn, x, y, n_basis, timesteps, cfg, domain, inputs)
    unit = float(params.amp) if cfg.alpha == "shared" else 1.0
    history, _ = _optimise(params, lambda spike: _loss(params, x, y, timesteps, spike)[0], unit,
                           cfg, progress, desc)
    with torch.no_grad():
        loss, ro = _loss(params, x, y, timesteps, heaviside)
        tau, dt, alpha = params.log_tau.exp(), params.log_dt.exp(), params.alpha()
    return MBENeuron(tau, dt, alpha, Readout(*(v.detach() for v in ro)), timesteps=timesteps,
                     domain=domain, decay=cfg.decay,
                     meta={"train_mse": float(loss), "history": history,
                           "n_parameters": params.n_parameters()})


class _FSParams:
    """The FS neuron's free kernels d, r, Vth (T each), trained directly."""

    def __init__(self, d: Tensor, r: Tensor, vth: Tensor):
        self.d, self.r, self.vth = (v.clone().requires_grad_() for v in (d, r, vth))

    def trainable(self) -> list[Tensor]:
        return [self.d, self.r, self.vth]

    def kernels(self) -> Kernels:
        return Kernels(self.d[:, None], self.r[:, None], self.vth[:, None])

    def snapshot(self) -> list[Tensor]:
        return [v.detach().clone() for v in self.trainable()]

    def restore(self, snap: list[Tensor]) -> None:
        with torch.no_grad():
            for v, saved in zip(self.trainable(), snap):
                v.copy_(saved)


def _fit_fs(x, y, timesteps, cfg, init, domain, seed, progress, desc) -> FSNeuron:
    """FS baseline: free d, r, Vth (3T), trained by the paper's recipe from `init`.

    "binary": Vth[t] = r[t] = d[t] = a * 2^-(t+1) with a = the domain's upper end (a T-bit
    quantiser of [0, a)); "random": uniform in (0, a / 2), drawn from the seed. The surrogate's
    width is in units of a.
    """
    if init not in ("binary", "random"):
        raise ValueError(f"FS init must be 'binary' or 'random', got {init!r}")
    a = abs(domain[1]) if domain[1] != 0 else abs(domain[0])
    if init == "binary":
        base = a * 2.0 ** -(torch.arange(timesteps, dtype=F64) + 1)
        params = _FSParams(base, base, base)
    else:
        gen = torch.Generator().manual_seed(seed)
        params = _FSParams(*(a / 2 * torch.rand(timesteps, generator=gen, dtype=F64)
                             for _ in range(3)))
    one, zero = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    ro = Readout(one, zero, one, zero[0])

    def loss(spike):
        return ((run_bases(x, params.kernels(), ro, spike=spike)[0][:, 0] - y) ** 2).mean()

    history, best = _optimise(params, loss, a, cfg, progress, desc)
    return FSNeuron(*params.snapshot(), domain=domain,
                    meta={"train_mse": best, "history": history, "n_parameters": 3 * timesteps})
