"""Spike multiplication of two activations (Wang et al. 2025, Eqs. 9-12).

Both operands are identity-encoded (MBE_Id, N bases x T steps = NT spike slots). With slot
intensities d (2^(T-1-t) for every basis) and the spike vectors s, s' of the two operands,

    q q' = sum_i sum_j d_i d'_j s_i s'_j = sum(D * S),   D = d^T d' (shared), S = s^T s'  (Eq. 11)

and the decoded operands are a_hat = beta_a (q + m_a), b_hat = beta_b (q' + m_b) (dyadic
ranges, `mbe.ops.primitives.Identity`), so

    a_hat * b_hat = beta_a beta_b * ( sum(D * S) + m_b q + m_a q' + m_a m_b )

The offsets m carry the sign: an operand range like [-3, 5] needs no sign bit or polarity split,
only the three bias cross-terms. Every term is an integer below 2^53, so float64 evaluates the
right-hand side exactly: the spike product equals the product of the two identity
reconstructions exactly, and "mbe" (which multiplies the reconstructions) and "spike" (which
works from the simulated spike codes) agree bit for bit. Batched products (Q K^T, attention V)
sum these exact integers over the shared axis.

Spike mode takes sum(D * S) as q q', with the codes q that the simulation counts from each
operand's spikes (`mbe.core.simulator`): D has rank one, so the sum over all NT x NT coincident
slot pairs is that product, the same integer. `coincidence_sum` is Eq. 11 slot by slot, on
spike tensors, which the tests hold equal to it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import SpikingOp
from .config import ConversionConfig, config_of
from .primitives import F64, Encoded, Identity, compute_dtype, identity

_EXACT_LIMIT = 2.0**53


@functools.lru_cache(maxsize=None)
def intensity_matrix(a: Identity, b: Identity) -> Tensor:
    """D = d^T d' over the (basis, step) slots of two encoders (Eq. 11): precomputed, shared."""
    return torch.outer(a.intensities(), b.intensities())


def coincidence_sum(sa: Tensor, sb: Tensor, ia: Identity, ib: Identity) -> Tensor:
    """sum(D * S) of Eq. 11 slot by slot, from two (..., N, T) spike tensors (as
    `SpikingNeuron.simulate` returns them): D accumulated over every coincident spike pair."""
    s = torch.einsum("...i,...j->...ij", sa.flatten(-2).to(F64), sb.flatten(-2).to(F64))
    return (intensity_matrix(ia, ib) * s).sum((-2, -1))


def spike_product(a: Encoded, b: Encoded, ia: Identity, ib: Identity) -> Tensor:
    """a_hat * b_hat from the spike codes: beta_a beta_b (sum(D * S) + bias cross-terms), exact,
    with sum(D * S) = q q', evaluated as (q + m_a)(q' + m_b): the same integer. (An operand
    forced to its exact function has no spikes: its values are multiplied.)"""
    if a.code is None or b.code is None:
        return a.values * b.values
    return (ia.beta * ib.beta) * ((a.code + ia.m) * (b.code + ib.m))


def spike_matmul(a: Encoded, b: Encoded, ia: Identity, ib: Identity) -> Tensor:
    """sum_k a_hat[..., i, k] b_hat[..., k, j] from the spike codes, exact (every product and
    partial sum is an integer below 2^53)."""
    if a.code is None or b.code is None:
        return a.values @ b.values
    return (ia.beta * ib.beta) * ((a.code + ia.m) @ (b.code + ib.m))


@dataclass
class ProductStats:
    """Scalar products computed and spike coincidences (accumulates of D) when measured."""

    products: int = 0
    counted: int = 0
    coincidences: int = 0

    def add(self, products: int, coincidences: int | None) -> None:
        self.products += products
        if coincidences is not None:
            self.counted += products
            self.coincidences += coincidences

    def to_dict(self) -> dict:
        measured = self.products > 0 and self.counted == self.products
        return {"products": self.products,
                "coincidences": self.coincidences if measured else None}


class ProductOp(SpikingOp):
    """A spiking operator that spike-multiplies: its `report()` adds "products" (scalar
    products and, when measured, spike coincidences), reset with the other statistics."""

    def __init__(self, config: ConversionConfig):
        super().__init__(config)
        self.products = ProductStats()

    def reset_stats(self) -> None:
        super().reset_stats()
        self.products = ProductStats()

    def report(self) -> dict:
        return {**super().report(), "products": self.products.to_dict()}


class Multiply(ProductOp):
    """a * b and a @ b of two activations by spike multiplication (Eqs. 9-12).

    range_a and range_b are the calibrated ranges of the operands (signed ranges are fine);
    inputs outside them saturate in the encoder and are counted in `report()`. Built from
    `config` (`mbe.ops.config`) or its fields as keywords: each operand's encoder has
    `identity_basis` bases; neuron="fs" uses one binary basis per operand (the Few-Spikes
    encoder at binary initialisation).
    """

    def __init__(self, range_a: tuple[float, float], range_b: tuple[float, float], *,
                 config: ConversionConfig | None = None, **settings):
        super().__init__(config_of(config, settings))
        cfg = self.config
        n, t = cfg.identity_basis, cfg.timesteps
        self.range_a, self.range_b = tuple(map(float, range_a)), tuple(map(float, range_b))
        self.add_primitive("identity_a", identity(*self.range_a, n, t, cfg.neuron))
        self.add_primitive("identity_b", identity(*self.range_b, n, t, cfg.neuron))
        ia, ib = self.encoders
        if ia.max_abs_units * ib.max_abs_units >= _EXACT_LIMIT:
            raise ValueError(f"ranges {self.range_a} and {self.range_b} lie too far from 0 "
                             "for their width: centre the operands or widen the ranges")

    @property
    def encoders(self) -> tuple[Identity, Identity]:
        return self.primitives["identity_a"].fitted, self.primitives["identity_b"].fitted

    def _operands(self, a: Tensor, b: Tensor):
        mode = self.start_call()
        dtype = torch.result_type(a, b)
        cd = compute_dtype(dtype)
        pa, pb = self.primitives["identity_a"], self.primitives["identity_b"]
        ea = pa.encode(a.to(cd), mode, self.record)
        eb = pb.encode(b.to(cd), mode, self.record)
        return mode, dtype, ea, eb

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Elementwise a * b (broadcasting), in a and b's result dtype."""
        mode, dtype, ea, eb = self._operands(a, b)
        if mode == "spike":
            out = spike_product(ea, eb, *self.encoders)
        else:
            out = ea.values * eb.values
        coinc = None if ea.counts is None else int((ea.counts * eb.counts).sum())
        self.products.add(out.numel(), coinc)
        return out.to(dtype)

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        """Batched a @ b (..., M, K) x (..., K, N), e.g. Q K^T and attention V."""
        if a.dim() < 2 or b.dim() < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul needs (..., M, K) and (..., K, N), got {tuple(a.shape)} "
                             f"and {tuple(b.shape)}")
        ia, ib = self.encoders
        k = a.shape[-1]
        if k * ia.max_abs_units * ib.max_abs_units >= _EXACT_LIMIT:
            raise ValueError(f"a sum over {k} products exceeds float64's exact integers for "
                             "these ranges: split the reduction axis or narrow the ranges")
        mode, dtype, ea, eb = self._operands(a, b)
        if mode == "spike":
            out = spike_matmul(ea, eb, ia, ib)
        else:
            out = ea.values @ eb.values
        coinc = None  # sum over i, j, k of counts_a[i, k] counts_b[k, j], summed over k last
        if ea.counts is not None:
            coinc = int((ea.counts.sum(-2, dtype=torch.int64)
                         * eb.counts.sum(-1, dtype=torch.int64)).sum())
        self.products.add(out.numel() * k, coinc)
        return out.to(dtype)
