"""Spiking softmax (Wang et al. 2025, Eq. 13).

For a row x (after subtracting the row maximum and applying the mask):

    z = x log2(e),  k = floor(z),  f = z - k in [0, 1)
    e^x = 2^f * 2^k            2^f by the MBE 2^x neuron on [0, 1], 2^k a shift
    S = sum_j e^x_j = M 2^E    M in [0.5, 1) (frexp's convention, matching 1/x's domain)
    softmax(x) = e^x * (1/M) * 2^-E

The last product is the spike multiplication (Eqs. 9-12) of the two mantissas, the 2^x output
and the MBE 1/x output, each identity-encoded over the fixed range its neuron can output; their
exponents combine as one shift 2^(k - E). No operand range needs calibration. Where z < -126
(e^x below float32's normal range) the element is flushed to 0 and the 2^x neuron is not run.
Decisions the paper leaves open are in docs/decisions.md ("Operators").
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..native import softmax as native
from ..ranges import Range
from .config import ConversionConfig, config_of
from .multiply import ProductOp, spike_product
from .primitives import F32, F64, Chain, Encoded, compute_dtype, fitted, identity_of_output

LOG2E = 1.4426950408889634
MIN_EXPONENT = {F32: -126, F64: -1022}


def apply_mask(x: Tensor, mask: Tensor | None, *, inplace: bool = False) -> Tensor:
    """Additive float masks are added; boolean masks keep True and set False to -inf.
    `inplace` overwrites x (for a caller that owns it: one pass fewer over the scores)."""
    if mask is None:
        return x
    if mask.dtype == torch.bool:
        return (x.masked_fill_ if inplace else x.masked_fill)(~mask, -math.inf)
    if not mask.is_floating_point():
        raise TypeError(f"mask must be bool (True = keep) or an additive float mask, got "
                        f"{mask.dtype}")
    return x.add_(mask.to(x.dtype)) if inplace else x + mask.to(x.dtype)


class Softmax(ProductOp):
    """softmax(x, dim) by Eq. 13. `forward(x, mask=None)`; mask broadcastable to x.

    A row whose every entry is masked out (-inf) has no softmax: it raises a ValueError.
    Built from `config` (`mbe.ops.config`) or its fields as keywords: the 2^x and 1/x neurons
    have `arithmetic_basis` bases, their identity encoders `identity_basis`.
    """

    def __init__(self, *, dim: int = -1, config: ConversionConfig | None = None, **settings):
        super().__init__(config_of(config, settings))
        self.dim = dim
        cfg = self.config
        n, t, n_id = cfg.arithmetic_basis, cfg.timesteps, cfg.identity_basis
        exp2 = fitted("exp2", (0.0, 1.0), n, t, cfg.variant, cfg.neuron)
        recip = fitted("reciprocal", (0.5, 1.0), n, t, cfg.variant, cfg.neuron)
        self.numerator = Chain(self.add_primitive("exp2", exp2),
                               self.add_primitive("identity_exp2",
                                                  identity_of_output(exp2, n_id, t)))
        self.denominator = Chain(self.add_primitive("reciprocal", recip),
                                 self.add_primitive("identity_reciprocal",
                                                    identity_of_output(recip, n_id, t)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}"

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        mode = self.start_call()
        cd = compute_dtype(x.dtype)
        xm = apply_mask(x.to(cd), mask).movedim(self.dim, -1)
        rows = xm.reshape(-1, xm.shape[-1]).contiguous()
        fused = self._fused(rows, mode)
        if fused is not None:
            out, top = fused
        else:
            e, top, num = self._numerator(rows, mode)
        if bool((top == -math.inf).any()):
            raise ValueError("softmax over a row whose every entry is masked out (-inf) is "
                             "undefined: keep at least one position per row in the mask")
        if fused is None:
            out = self._normalise(rows, top, e, num, mode)
        return out.reshape(xm.shape).movedim(-1, self.dim).to(x.dtype)

    def _fused(self, rows: Tensor, mode: str) -> tuple[Tensor, Tensor] | None:
        """The whole fast path in one C loop (float32, not recording spikes): (softmax, row
        maxima), or None where it does not apply."""
        if not (mode == "mbe" and rows.dtype == F32 and not self.record
                and self.numerator.fused and self.denominator.fused):
            return None
        den = (self.denominator.table, self.denominator.first.fitted.domain)
        fused = native.softmax_exp(rows, LOG2E, self.numerator.table, denominator=den)
        if fused is None:
            return None
        out, top, _, stats, den_seen = fused
        num = self._account_fused(None, stats)
        self.denominator.account(rows.shape[0], den_seen, None)
        self.products.add(num.evaluated, None)
        return out, top

    def _normalise(self, rows: Tensor, top: Tensor, e: Tensor, num: "_Numerator",
                   mode: str) -> Tensor:
        """e / sum(e) per row: the denominator split, its neurons and the final product."""
        cd = rows.dtype
        mant, ex = torch.frexp(native.row_sums(e))
        den = self.denominator.encode(mant, mode, self.record)
        spiking = mode == "spike" and num.enc.code is not None and den.code is not None
        counted = num.counts is not None and den.counts is not None
        # the row of each evaluated element (in row-major order)
        row = torch.repeat_interleave(num.per_row) if spiking or counted else None
        if spiking:
            out = self._spike_output(rows, top, num, den, ex, row)
        else:
            out = e.mul_(torch.ldexp(den.values.to(cd), -ex))  # e is this call's own tensor
        coinc = int((num.counts * den.counts[row, 0]).sum()) if counted else None
        self.products.add(num.evaluated, coinc)
        return out

    # -- e^x = 2^f 2^k ------------------------------------------------------------------------
    def _numerator(self, rows: Tensor, mode: str) -> tuple[Tensor, Tensor, "_Numerator"]:
        """(e^(x - max) by 2^f 2^k, the row maxima, what the 2^x neuron saw)."""
        if mode == "mbe" and rows.dtype == F32 and self.numerator.fused:
            fused = native.softmax_exp(rows, LOG2E, self.numerator.table, index=self.record)
            if fused is not None:
                e, top, idx, stats, _ = fused
                return e, top, self._account_fused(idx, stats)
        low = MIN_EXPONENT[rows.dtype]
        top, per_row, k, f = native.softmax_split(rows, LOG2E, low)
        enc = self.numerator.encode(f, mode, self.record)
        e = native.softmax_place(rows, top, LOG2E, low, per_row,
                                  torch.ldexp(enc.values.to(rows.dtype), k))
        return e, top, _Numerator(per_row, k, enc)

    def _account_fused(self, idx, stats) -> "_Numerator":
        _, evaluated, lo, hi = stats
        domain = self.numerator.first.fitted.domain
        if evaluated and not (domain[0] <= lo and hi <= domain[1]):
            raise RuntimeError(f"2^x inputs left [0, 1] ({lo}, {hi}): the fused kernel is broken")
        seen = Range(domain, evaluated, 0, 0, lo, hi) if evaluated else None
        if idx is None:
            counts = self.numerator.account(evaluated, seen, None)
            return _Numerator(None, None, Encoded(torch.empty(0), counts), evaluated)
        keep = idx >= 0
        counts = self.numerator.account(evaluated, seen, idx[keep])
        return _Numerator(keep.sum(-1), None, Encoded(torch.empty(0), counts), evaluated)

    # -- the spike product of the two mantissas, then the shift 2^(k - E) ---------------------
    def _spike_output(self, rows: Tensor, top: Tensor, num: "_Numerator", den: Encoded,
                      ex: Tensor, row: Tensor) -> Tensor:
        """The softmax from the spike product of the mantissas (evaluated elements in rows
        `row`), 0 or NaN where the numerator was 0 or NaN."""
        ia = self.numerator.second.fitted
        ib = self.denominator.second.fitted
        mant = spike_product(num.enc, Encoded(None, None, den.code[row, 0], ib), ia, ib)
        shift = num.k - ex[row, 0]  # exact small integers
        out = torch.ldexp(mant, shift.to(F64)).to(rows.dtype)
        return native.softmax_place(rows, top, LOG2E, MIN_EXPONENT[rows.dtype], num.per_row,
                                     out)


class _Numerator:
    """Which elements ran the 2^x neuron: how many per row (when known; in row-major order
    they are the elements `native.softmax_split` evaluates), their k (where computed here),
    and the encoded 2^f (values; spikes and counts where measured)."""

    def __init__(self, per_row: Tensor | None, k: Tensor | None, enc: Encoded,
                 evaluated: int | None = None):
        self.per_row, self.k, self.enc = per_row, k, enc
        self.evaluated = int(per_row.sum()) if evaluated is None else evaluated

    @property
    def counts(self) -> Tensor | None:
        return self.enc.counts
