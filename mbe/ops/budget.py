"""Error budgets: the operator with the fewest bases whose neurons stay within a relative error.

With `ConversionConfig.error_budget = e`, conversion builds each operator of a site at the
smallest N that keeps every neuron of it within e, measured as relative RMS error on the inputs
that neuron receives (docs/decisions.md, "Calibrated conversion"):

- an activation neuron (Eq. 8): N tried from 1 up to `activation_basis` (`BUDGET_BASES`); each
  candidate is fitted to the site's calibrated inputs and its error measured on draws from
  them (`mbe.core.analysis.input_error`);
- the identity encoders MBE_Id of an operator's spike multiplications (Eqs. 9-10): N tried
  over the powers of two up to `identity_basis`. An encoder decodes to a grid of step beta
  (`Identity.beta`), rounding to nearest, so on inputs spread over many steps its error is
  uniform on [-beta/2, beta/2] and

      relative RMS error = (beta / sqrt(12)) / RMS(inputs)           (`Identity.rounding_error`)

  RMS(inputs) is the operand's, from its calibration histogram; an encoder of a neuron's
  output (softmax's 2^x and 1/x, LayerNorm's 1/sqrt) takes its values as uniform over their
  range. A per-channel encoder (LayerNorm, `layernorm_scale="channel"`) has step beta 2^k_i in
  channel i: its error is the RMS over channels.

The first candidate within the budget is taken; if none is, the most accurate one, marked
"met": false. Each choice is recorded as {"budget", "n_basis", "error", "met", "tried":
[[N, error], ...]}. T is never chosen here: every site keeps the model's clock.
"""
from __future__ import annotations

from typing import Callable

from ..core.analysis import input_error
from ..core.distribution import InputDistribution
from .activation import Activation
from .base import SpikingOp
from .config import ConversionConfig

#: The N tried for activation neurons (up to the configuration's activation_basis).
BUDGET_BASES = (1, 2, 3, 4, 6, 8, 12, 16)


def cheapest(candidates: list[int], build: Callable[[int], SpikingOp],
             error: Callable[[SpikingOp], float], budget: float) -> tuple[SpikingOp, dict]:
    """The operator built at the first of `candidates` whose `error` is within `budget`, or
    the most accurate one; and the record of the choice (module docstring)."""
    tried, best = [], None
    for n in candidates:
        op = build(n)
        e = float(error(op))
        tried.append([n, e])
        if best is None or e < best[1] or e <= budget:
            best = (op, e, n)
        if e <= budget:
            break
    op, e, n = best
    return op, {"budget": budget, "n_basis": n, "error": e, "met": e <= budget, "tried": tried}


def within_budget(kind: str, domain: tuple[float, float], inputs: InputDistribution,
                  config: ConversionConfig) -> tuple[Activation, dict]:
    """The activation operator of `kind` with the fewest bases whose neuron, fitted to
    `inputs` on `domain`, meets `config.error_budget` on those inputs (module docstring)."""
    candidates = [n for n in BUDGET_BASES if n < config.activation_basis]
    candidates.append(config.activation_basis)
    return cheapest(
        candidates,
        lambda n: Activation(kind, domain=domain, inputs=inputs,
                             config=config.updated(activation_basis=n)),
        lambda op: input_error(op.neuron(kind), kind, inputs)["rel_rms"],
        config.error_budget)


def identity_within_budget(build: Callable[[ConversionConfig], SpikingOp],
                           rms: dict[str, float], config: ConversionConfig
                           ) -> tuple[SpikingOp, dict]:
    """The operator `build(config)` at the fewest identity-encoder bases (powers of two up to
    `config.identity_basis`) whose every encoder meets `config.error_budget`; rms: the RMS of
    each operand encoder's inputs, by primitive name (`SpikingOp.encoder_errors`)."""
    candidates = [1 << k for k in range(config.identity_basis.bit_length())]
    return cheapest(candidates, lambda n: build(config.updated(identity_basis=n)),
                    lambda op: max(op.encoder_errors(rms).values()), config.error_budget)
