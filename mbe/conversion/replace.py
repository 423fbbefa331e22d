"""The one site-replacement pass every model family shares.

`install_module_sites` walks a model copy and swaps every module the family recognises for
its site (`family.module_site`); `install_functional_sites` turns the audit's findings into
functional sites or raises, naming each module it cannot convert and how to proceed. Nothing
here knows a model by name: families recognise module classes, and the audit sees the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .functional import Finding, FunctionalSites
from .sites import (ACTIVATION_FUNCTIONS, ActivationSite, AttentionSite, ConversionError,
                    Site, SoftmaxSite)


@dataclass
class FloatSite:
    """An operation kept in floating point, and why (for the ledger)."""

    path: str
    operation: str
    module: str
    reason: str
    calls_per_forward: float | None = None


REASONS = {
    "weights": "weight layer: the trained weights are reused unchanged (training-free); "
               "it only accumulates its inputs",
    "embedding": "embedding lookup: a table of trained weights, no nonlinearity",
    "affine": "per-channel affine in eval mode (no nonlinearity)",
    "average": "average pooling: linear, no neuron needed",
    "sum": "sum of two activations (residual or embedding sum): linear, no neuron needed",
    "keep_float": "kept in floating point on request (keep_float)",
    "unreached": "never ran on the calibration data, so its range is unknown: it computes "
                 "the ANN's float function",
}


def kept(path: str, keep_float: frozenset[str]) -> bool:
    """Is `path` one of the keep_float paths or inside one?"""
    return any(path == k or path.startswith(k + ".") for k in keep_float)


def check_keep_float(model: nn.Module, keep_float) -> frozenset[str]:
    if isinstance(keep_float, str):
        raise TypeError(f"keep_float must be a list of module paths, got the string "
                        f"{keep_float!r}: write keep_float=[{keep_float!r}]")
    paths = {p for p, _ in model.named_modules()}
    unknown = sorted(set(keep_float) - paths)
    if unknown:
        raise ConversionError(f"keep_float names no module of {type(model).__name__}: "
                              f"{unknown}; use paths from model.named_modules()")
    return frozenset(keep_float)


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def _name(site: Site, path: str, via: str, module: nn.Module) -> Site:
    site.path, site.via, site.module_class = path, via, type(module).__name__
    return site


def install_module_sites(model: nn.Module, family, keep_float: frozenset[str]):
    """Swap recognised modules for sites; return (sites, float-kept weight/affine modules)."""
    sites, floats = [], []
    for path, module in list(model.named_modules()):
        if not path or kept(path, keep_float) or any(path.startswith(s.path + ".")
                                                     for s in sites):
            continue
        site = family.module_site(module, path)
        if site is not None:
            sites.append(_name(site, path, "module", module))
            _set_module(model, path, site)
            continue
        reason = family.float_reason(module)
        if reason is not None:
            floats.append(FloatSite(path, reason, type(module).__name__, REASONS[reason]))
    return sites, floats


def attach_attention_site(module: nn.Module, path: str, via: str) -> Site:
    """An `AttentionSite` as child `mbe_attention` of an attention module."""
    site = _name(AttentionSite(), path, via, module)
    module.mbe_attention = site
    return site


def _functional_site(finding: Finding) -> Site | None:
    """The site for a functional call the converter can serve, or None."""
    op, options = finding.op, finding.options
    if op == "gelu":
        tanh = options.get("approximate", options.get(1, "none")) == "tanh"
        return ActivationSite("gelu_tanh" if tanh else "gelu")
    if op in ACTIVATION_FUNCTIONS:
        return ActivationSite(op)
    if op == "softmax":
        return SoftmaxSite(options.get("dim", options.get(1)))
    if op == "scaled_dot_product_attention":
        return AttentionSite()
    return None


def install_functional_sites(model: nn.Module, findings: dict, keep_float: frozenset[str],
                             forwards: int):
    """Functional sites for the audit's findings; float records for keep_float ones.

    Raises ConversionError listing every finding that is neither convertible nor kept.
    """
    routes: dict[str, dict[str, Site]] = {}
    owners: dict[str, nn.Module] = {}
    floats, failures = [], []
    for (path, op), finding in findings.items():
        module_class = type(finding.module).__name__
        if kept(path, keep_float):
            floats.append(FloatSite(path, op, module_class, REASONS["keep_float"],
                                    finding.calls / max(forwards, 1)))
            continue
        site = _functional_site(finding)
        if site is None:
            failures.append(finding)
            continue
        routes.setdefault(path, {})[op] = _name(site, path, "functional call", finding.module)
        owners[path] = finding.module
    if failures:
        raise ConversionError(_unsupported_message(model, failures))
    for path, table in routes.items():
        owners[path].mbe_functional = FunctionalSites(owners[path], table)
    return [site for table in routes.values() for site in table.values()], floats


def _unsupported_message(model: nn.Module, failures: list[Finding]) -> str:
    by_path: dict[str, list[Finding]] = {}
    for f in failures:
        by_path.setdefault(f.path, []).append(f)
    lines = [f"mbe.convert cannot convert {len(failures)} nonlinear operation(s) of "
             f"{type(model).__name__}:"]
    for path, found in by_path.items():
        ops = ", ".join(f"`{f.op}`" for f in found)
        lines.append(f"  - module `{path or '<model>'}` ({type(found[0].module).__name__}) "
                     f"computes {ops} on activations")
    paths = list(by_path)
    lines.append("To proceed: use a supported module or function instead (activations "
                 f"{sorted(ACTIVATION_FUNCTIONS)}, softmax, LayerNorm, attention, max "
                 "pooling), or keep these modules in floating point with "
                 f"mbe.convert(..., keep_float={paths!r}).")
    return "\n".join(lines)
