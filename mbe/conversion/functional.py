"""What a model computes outside its modules: every torch call, seen and routed.

A converter that only looks at module classes misses `F.relu(x)` in a forward, a custom
activation module, or a fused attention call, and silently converts nothing there. Two
`TorchFunctionMode`s close that gap:

- `Audit` watches every torch call of a forward and attributes it to the innermost running
  module. A nonlinear call on activations (anything but a weight layer, a sum or a reshape)
  that is not inside a converted site is a finding: the converter turns it into a functional
  site if it can, keeps it in float if asked to, and raises otherwise. Sums of two
  activations (residual adds) are recorded for the ledger.
- `FunctionalSites` routes the functional calls one module makes directly in its forward
  (not in its submodules) to spiking sites, e.g. RoBERTa's classification-head `torch.tanh`
  or timm's fused `F.scaled_dot_product_attention`.

"Activation" here means a floating tensor with more than one element that is not one of the
model's parameters or buffers (nor a view of one).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .sites import Site

#: Elementwise or reducing nonlinear functions: nonlinear whenever applied to an activation.
NONLINEAR = frozenset("""
    tanh sigmoid relu relu6 gelu silu mish elu selu celu leaky_relu hardtanh hardswish
    hardsigmoid softplus softsign logsigmoid tanhshrink softshrink hardshrink threshold prelu
    rrelu glu exp exp2 expm1 log log2 log10 log1p erf erfc erfinv sqrt rsqrt reciprocal sin cos
    tan asin acos atan sinh cosh asinh atanh abs sign sgn floor ceil round trunc frac square
    clamp clip clamp_min clamp_max maximum minimum fmax fmin max min amax amin logsumexp
    softmax log_softmax softmin layer_norm group_norm instance_norm rms_norm
    local_response_norm normalize norm var std var_mean std_mean max_pool1d max_pool2d
    max_pool3d max_pool1d_with_indices max_pool2d_with_indices max_pool3d_with_indices
    adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d lp_pool1d lp_pool2d
    fractional_max_pool2d scaled_dot_product_attention multi_head_attention_forward
    cosine_similarity pairwise_distance cdist gt lt ge le greater less greater_equal
    less_equal topk sort median quantile argmax argmin lstm gru rnn_tanh rnn_relu
""".split())
#: Products: nonlinear when two or more operands are activations.
PRODUCTS = frozenset("mul matmul bmm mm einsum baddbmm addmm addbmm dot outer inner kron "
                     "tensordot".split())
#: Divisions: nonlinear when the divisor is an activation (for the reflected forms, args[0]).
DIVISIONS = frozenset("div true_divide floor_divide remainder fmod".split())
REFLECTED_DIVISIONS = frozenset("rdiv rtruediv rfloordiv rmod".split())
#: Sums: linear, but a sum of two activations is a float-kept residual add in the ledger.
SUMS = frozenset("add sub".split())

_ALIASES = {"truediv": "div", "iadd": "add", "radd": "add", "isub": "sub", "rsub": "sub",
            "imul": "mul", "rmul": "mul", "itruediv": "div", "idiv": "div",
            "rmatmul": "matmul", "imatmul": "matmul", "ipow": "pow"}


def op_name(func) -> tuple[str, bool]:
    """Canonical name of a torch function and whether it is an in-place variant.

    `torch.relu`, `F.relu`, `Tensor.relu` -> ("relu", False); `Tensor.relu_` -> ("relu",
    True); `Tensor.__iadd__` -> ("add", True); `Tensor.__rtruediv__` -> ("rtruediv", False).
    """
    raw = getattr(func, "__name__", "")
    dunder = raw.startswith("__") and raw.endswith("__")
    name = raw.strip("_")
    inplace = (not dunder and raw.endswith("_")) or (dunder and name.startswith("i")
                                                      and name in _ALIASES)
    return _ALIASES.get(name, name), inplace


def _tensors(args) -> list[Tensor]:
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, Tensor))
    return out


@dataclass
class Finding:
    """A nonlinear call on activations outside every site, by (module path, op name)."""

    path: str
    op: str
    module: nn.Module
    calls: int = 0
    options: dict = field(default_factory=dict)  # the first call's non-tensor arguments


class Audit(TorchFunctionMode):
    """Attributes every torch call of the forwards run inside it to the innermost module.

    Use: `with Audit(model) as audit: model(...)`; then `audit.findings` (uncovered nonlinear
    calls), `audit.sums` (module path -> sums of two activations) and `audit.forwards`.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.weights = {t.untyped_storage().data_ptr()
                        for t in itertools.chain(model.parameters(), model.buffers())}
        self.findings: dict[tuple[str, str], Finding] = {}
        self.sums: dict[str, int] = {}
        self.forwards = 0
        self._stack: list[tuple[str, nn.Module]] = []
        self._in_site = 0
        self._hooks: list = []

    # -- module stack ------------------------------------------------------------------------
    def __enter__(self):
        for path, module in self.model.named_modules():
            self._hooks.append(module.register_forward_pre_hook(self._pusher(path)))
            self._hooks.append(module.register_forward_hook(self._pop, always_call=True))
        self._hooks.append(self.model.register_forward_pre_hook(self._count))
        return super().__enter__()

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        return super().__exit__(*exc)

    def _count(self, module, args):
        self.forwards += 1

    def _pusher(self, path: str):
        def push(module, args):
            self._stack.append((path, module))
            self._in_site += isinstance(module, Site)
        return push

    def _pop(self, module, args, output):
        path, top = self._stack.pop()
        self._in_site -= isinstance(top, Site)

    # -- calls -----------------------------------------------------------------------------------
    def _is_activation(self, t: Tensor) -> bool:
        return (t.is_floating_point() and t.numel() > 1
                and t.untyped_storage().data_ptr() not in self.weights)

    def classify(self, name: str, args: tuple) -> str | None:
        """"nonlinear", "sum" (of two activations) or None (linear, structural, or not on
        activations)."""
        tensors = _tensors(args)
        acts = [t for t in tensors if self._is_activation(t)]
        first = args[0] if args else None
        if name in NONLINEAR:
            return "nonlinear" if isinstance(first, Tensor) and self._is_activation(first) \
                else None
        if name in PRODUCTS:
            return "nonlinear" if len(acts) >= 2 else None
        if name in DIVISIONS or name == "pow":
            second = args[1] if len(args) > 1 else None
            hit = isinstance(second, Tensor) and self._is_activation(second)
            if name == "pow":  # x ** 1 is the only linear power of an activation
                hit = hit or (isinstance(first, Tensor) and self._is_activation(first)
                              and (isinstance(second, Tensor) or second != 1))
            return "nonlinear" if hit else None
        if name in REFLECTED_DIVISIONS or name == "rpow":
            return "nonlinear" if isinstance(first, Tensor) and self._is_activation(first) \
                else None
        if name in SUMS:
            return "sum" if len(acts) >= 2 else None
        return None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._stack and not self._in_site:
            name, _ = op_name(func)
            kind = self.classify(name, args)
            path, module = self._stack[-1]
            if kind == "sum":
                self.sums[path] = self.sums.get(path, 0) + 1
            elif kind == "nonlinear":
                finding = self.findings.get((path, name))
                if finding is None:
                    options = {**{i: a for i, a in enumerate(args) if not _tensors([a])},
                               **{k: v for k, v in kwargs.items() if not _tensors([v])}}
                    finding = self.findings[(path, name)] = Finding(path, name, module,
                                                                    options=options)
                finding.calls += 1
        return func(*args, **kwargs)


class _Router(TorchFunctionMode):
    def __init__(self, owner: "FunctionalSites"):
        super().__init__()
        self.owner = owner

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.owner.depth == 0:
            name, inplace = op_name(func)
            if name in self.owner.routes:
                out = self.owner.routes[name].call_functional(args, kwargs)
                return args[0].copy_(out) if inplace else out
        return func(*args, **kwargs)


class FunctionalSites(nn.Module):
    """Spiking sites for the functional calls made directly in `owner.forward`.

    Attached to the owner as a child; while the owner runs (and none of its submodules), a
    `TorchFunctionMode` sends each call named in `routes` to its site's `call_functional`.
    """

    def __init__(self, owner: nn.Module, routes: dict[str, Site]):
        super().__init__()
        self.routes = nn.ModuleDict(routes)
        self.depth = 0
        self._router = _Router(self)
        children = list(owner.children())
        owner.register_forward_pre_hook(self._enter)
        owner.register_forward_hook(self._exit, always_call=True)
        for child in children:
            child.register_forward_pre_hook(self._down)
            child.register_forward_hook(self._up, always_call=True)

    def _enter(self, module, args):
        self.depth = 0
        self._router.__enter__()

    def _exit(self, module, args, output):
        self._router.__exit__(None, None, None)

    def _down(self, module, args):
        self.depth += 1

    def _up(self, module, args, output):
        self.depth -= 1
