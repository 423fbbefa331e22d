"""Plain torch models (the paper's VGG-16 and ResNet-34 rows, and the torch.nn modules that
every family shares), recognised by their module classes.

Spiking: ReLU, GELU, Tanh, SiLU (one MBE neuron each, Eq. 8), Softmax (Eq. 13), LayerNorm,
2-D max pooling (ReLU neurons). Float-kept with a reason: convolutions and linear layers
(weights), embeddings, BatchNorm (an affine map in eval mode) and average pooling. Classes
are matched exactly, so a subclass that changes `forward` is not mistaken for its parent: the
audit sees what it computes instead.
"""
from __future__ import annotations

from torch import nn

from .sites import ActivationSite, LayerNormSite, MaxPoolSite, Site, SoftmaxSite

NAME = "torch"

_ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.SiLU: "silu"}

_FLOAT = {
    "weights": (nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                nn.ConvTranspose2d, nn.ConvTranspose3d),
    "embedding": (nn.Embedding, nn.EmbeddingBag),
    "affine": (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d),
    "average": (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
                nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d),
}


def module_site(module: nn.Module, path: str) -> Site | None:
    kind = type(module)
    if kind in _ACTIVATIONS:
        return ActivationSite(_ACTIVATIONS[kind], module)
    if kind is nn.GELU:
        return ActivationSite("gelu_tanh" if module.approximate == "tanh" else "gelu", module)
    if kind is nn.Softmax and module.dim is not None:
        return SoftmaxSite(module.dim, module)
    if kind is nn.LayerNorm:
        return LayerNormSite(module)
    if kind is nn.MaxPool2d:
        return MaxPoolSite(module, path)
    return None


def float_reason(module: nn.Module) -> str | None:
    return next((reason for reason, classes in _FLOAT.items() if isinstance(module, classes)),
                None)


def prepare(model: nn.Module) -> list[Site]:
    """Plain torch models need no preparation: every site is a module or a functional call."""
    return []
