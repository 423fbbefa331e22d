"""The MBE neuron (Wang et al. 2025, Eqs. 4-8) and the Few-Spikes baseline (Eqs. 1-3).

Both are thin `nn.Module` wrappers around plain tensors: they hold parameters as buffers,
compute their (T, N) kernels, and evaluate through `mbe.core.dynamics` (time-stepped simulation)
or `mbe.core.staircase` (exact fast path). Fitting lives in `mbe.core.fitting`.

MBE kernels (Eq. 4), for basis n and step t = 0 .. T-1:

    d_n[t]   = a_d,n * exp(-t * dt_n / tau_d,n)
    r_n[t]   = a_r,n * exp(-t * dt_n / tau_r,n)
    Vth_n[t] = a_v,n * exp(-t * dt_n / tau_Vth,n)

The paper uses one alpha (the target's maximum) for all three and every basis; per-basis
amplitudes are an option (see docs/decisions.md). With `decay=False` (the no-decay ablation)
the kernels are the constants a_d,n, a_r,n, a_v,n.

Example:
    >>> import torch, mbe
    >>> neuron = mbe.MBENeuron.halving(n_basis=1, timesteps=8, domain=(0.0, 1.0))
    >>> x = torch.tensor([0.3, 0.7], dtype=torch.float64)
    >>> y, spikes = neuron.simulate(x)
    >>> bool(torch.equal(y, neuron(x))), tuple(spikes.shape)
    (True, (2, 1, 8))
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..ranges import Range
from . import staircase as _staircase
from .dynamics import Kernels, Readout, simulate

F64 = torch.float64


class SpikingNeuron(nn.Module):
    """What MBE and FS neurons share: readout, simulation, exact fast path, range counting.

    `neuron(x)` evaluates by the fast path: x is converted to float64, looked up in the
    staircase, and the result is returned in x's floating dtype. It therefore equals
    `neuron.simulate(x)` (float64 by default) exactly. A float32 simulation
    (`precision="input"`) can flip a spike when u lands within rounding of a threshold; the
    fast path never runs in float32.
    """

    def __init__(self, readout: Readout, timesteps: int, domain: tuple[float, float],
                 meta: dict | None = None):
        super().__init__()
        self.timesteps = int(timesteps)
        self.domain = (float(domain[0]), float(domain[1]))
        self.meta = dict(meta or {})
        for name, value in readout._asdict().items():
            self.register_buffer(f"ro_{name}", torch.as_tensor(value, dtype=F64).clone())
        self.range_stats = Range(self.domain)
        self._table: _staircase.Staircase | None = None

    def __getstate__(self) -> dict:
        """Pickled without the staircase, which is derived and rebuilt exactly on first use."""
        state = dict(self.__dict__)
        state["_table"] = None
        return state

    # -- subclasses provide the kernels -------------------------------------------------
    def kernels(self) -> Kernels:
        """(d, r, vth), each (T, N) float64: exactly the tables used in Eqs. 5-7."""
        raise NotImplementedError

    @property
    def n_basis(self) -> int:
        return int(self.ro_weight.numel())

    def readout(self) -> Readout:
        return Readout(self.ro_scale, self.ro_shift, self.ro_weight, self.ro_bias)

    # -- evaluation ---------------------------------------------------------------------
    def simulate(self, x: Tensor, *, precision: str = "float64") -> tuple[Tensor, Tensor]:
        """Time-stepped simulation. Returns (output, spikes of shape x.shape + (N, T), 0/1).

        precision "float64" (default) runs in float64 and matches the fast path exactly;
        "input" runs in x's dtype (faster, may differ on inputs within rounding of a threshold).
        """
        dtype = F64 if precision == "float64" else x.dtype
        if precision not in ("float64", "input"):
            raise ValueError(f"precision must be 'float64' or 'input', got {precision!r}")
        ks = Kernels(*(k.to(dtype) for k in self.kernels()))
        ro = Readout(*(v.to(dtype) for v in self.readout()))
        self.range_stats.update(x.detach())
        out, spikes = simulate(x.to(dtype), ks, ro, record=True)
        return out.to(x.dtype) if x.is_floating_point() else out, spikes

    @property
    def staircase(self) -> _staircase.Staircase:
        """The exact piecewise-constant form of this neuron, built once on first use."""
        if self._table is None:
            self._table = _staircase.build(self.kernels(), self.readout())
        return self._table

    def forward(self, x: Tensor) -> Tensor:
        self.range_stats.update(x.detach())
        out = self.staircase.lookup(x)
        return out.to(x.dtype) if x.is_floating_point() else out

    def spike_counts(self, x: Tensor) -> Tensor:
        """Total spikes over all bases and steps for each element of x (fast path)."""
        return self.staircase.spike_counts[self.staircase.index(x)]

    def reset_range_stats(self) -> None:
        self.range_stats = Range(self.domain)

    # -- (de)serialisation ----------------------------------------------------------------
    def state(self) -> dict:
        """Everything that defines the neuron, as tensors and JSON-able metadata."""
        return {"class": type(self).__name__, "timesteps": self.timesteps,
                "domain": list(self.domain), "meta": self.meta,
                "tensors": {k: v.clone() for k, v in self.state_dict().items()},
                **self._extra_state()}

    def _extra_state(self) -> dict:
        return {}

    @staticmethod
    def from_state(state: dict) -> "SpikingNeuron":
        cls = {"MBENeuron": MBENeuron, "FSNeuron": FSNeuron}[state["class"]]
        return cls._from_state(state)


class MBENeuron(SpikingNeuron):
    """Multi-basis exponential-decay neuron (Eqs. 4-8).

    Parameters per basis: tau (3, N) = (tau_d, tau_r, tau_Vth), dt (N,), alpha (3, N) =
    (a_d, a_r, a_v), and the readout (input scale/shift, weight w_n, bias). The paper-literal
    neuron has alpha all equal to the target's maximum, scale 1, shift 0 and bias 0, so its
    learned parameters are exactly tau (3N), dt (N) and w (N): 5N.
    """

    def __init__(self, tau: Tensor, dt: Tensor, alpha: Tensor, readout: Readout, *,
                 timesteps: int, domain: tuple[float, float], decay: bool = True,
                 meta: dict | None = None):
        super().__init__(readout, timesteps, domain, meta)
        self.decay = bool(decay)
        self.register_buffer("tau", torch.as_tensor(tau, dtype=F64).clone())
        self.register_buffer("dt", torch.as_tensor(dt, dtype=F64).clone())
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=F64).clone())

    def kernels(self) -> Kernels:
        return mbe_kernels(self.tau, self.dt, self.alpha, self.timesteps, self.decay)

    def _extra_state(self) -> dict:
        return {"decay": self.decay}

    @classmethod
    def _from_state(cls, state: dict) -> "MBENeuron":
        t = state["tensors"]
        ro = Readout(t["ro_scale"], t["ro_shift"], t["ro_weight"], t["ro_bias"])
        return cls(t["tau"], t["dt"], t["alpha"], ro, timesteps=state["timesteps"],
                   domain=tuple(state["domain"]), decay=state["decay"], meta=state["meta"])

    @classmethod
    def halving(cls, n_basis: int, timesteps: int, domain: tuple[float, float],
                alpha: float | None = None) -> "MBENeuron":
        """The paper-literal neuron at its halving initialisation: tau = dt / ln 2.

        Every kernel halves each step (binary successive approximation), alpha defaults to
        the domain's upper end and w_n = 1 / N, so the output approximates x on [0, alpha).
        """
        a = float(domain[1]) if alpha is None else float(alpha)
        n = n_basis
        dt = torch.ones(n, dtype=F64)
        tau = torch.full((3, n), 1.0 / math.log(2.0), dtype=F64)
        ro = Readout(torch.ones(n, dtype=F64), torch.zeros(n, dtype=F64),
                     torch.full((n,), 1.0 / n, dtype=F64), torch.zeros((), dtype=F64))
        alpha_t = torch.full((3, n), a / 2, dtype=F64)
        return cls(tau, dt, alpha_t, ro, timesteps=timesteps, domain=domain)


def mbe_kernels(tau: Tensor, dt: Tensor, alpha: Tensor, timesteps: int,
                decay: bool = True) -> Kernels:
    """Eq. 4: alpha * exp(-t * dt / tau) for t = 0 .. T-1; constants alpha if not decay.

    Computed as alpha * q^t with q = exp(-dt / tau), the same numbers in exact arithmetic;
    in float64 the powers are exact whenever q is (q = 1/2 gives exact binary kernels).
    """
    t = torch.arange(timesteps, dtype=tau.dtype)[:, None]
    if decay:
        table = alpha[:, None, :] * torch.pow(torch.exp(-dt / tau)[:, None, :], t)
    else:
        table = alpha[:, None, :].expand(3, timesteps, alpha.shape[-1])
    return Kernels(*table)


class FSNeuron(SpikingNeuron):
    """Few-Spikes neuron (Stoeckl & Maass 2021; Eqs. 1-3): free d[t], r[t], Vth[t], 3T params.

    u[0] = x; s[t] = H(u[t] - Vth[t]); u[t+1] = u[t] - r[t] s[t]; f_hat(x) = sum_t d[t] s[t].
    It is the N = 1 case of the shared dynamics with unconstrained kernels.
    """

    def __init__(self, d: Tensor, r: Tensor, vth: Tensor, *, domain: tuple[float, float],
                 meta: dict | None = None):
        one, zero = torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
        super().__init__(Readout(one, zero, one, torch.zeros((), dtype=F64)),
                         timesteps=len(d), domain=domain, meta=meta)
        self.register_buffer("d", torch.as_tensor(d, dtype=F64).clone())
        self.register_buffer("r", torch.as_tensor(r, dtype=F64).clone())
        self.register_buffer("vth", torch.as_tensor(vth, dtype=F64).clone())

    def kernels(self) -> Kernels:
        return Kernels(self.d[:, None], self.r[:, None], self.vth[:, None])

    @classmethod
    def _from_state(cls, state: dict) -> "FSNeuron":
        t = state["tensors"]
        return cls(t["d"], t["r"], t["vth"], domain=tuple(state["domain"]), meta=state["meta"])
