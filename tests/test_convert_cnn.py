"""Converting plain torch CNNs (the paper's VGG-16 / ResNet-34 rows, in miniature) and the
errors every unsupported nonlinearity must raise."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mbe
from mbe.conversion import ConversionError, set_mode


def _settle(model: nn.Module) -> nn.Module:
    """Give BatchNorm non-trivial statistics, so that it matters; eval mode."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


def vgg() -> nn.Module:
    torch.manual_seed(0)
    return _settle(nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 16),
        nn.ReLU(), nn.Linear(16, 4)))


class Block(nn.Module):
    """A ResNet basic block: conv-BN-ReLU-conv-BN, residual add, ReLU."""

    def __init__(self, c: int, functional: bool = False):
        super().__init__()
        self.functional = functional
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        if not functional:
            self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        act = F.relu if self.functional else self.relu
        out = act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return act(out)


def resnet(functional: bool = False) -> nn.Module:
    torch.manual_seed(0)
    return _settle(nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        Block(8, functional), Block(8, functional), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 4)))


IMAGES = [torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]


@pytest.mark.parametrize("build", [vgg, resnet, lambda: resnet(functional=True)],
                         ids=["vgg", "resnet", "resnet-functional-relu"])
def test_exact_primitives_match_the_cnn(build):
    model = build()
    snn, report = mbe.convert(model, IMAGES, timesteps=10, mode="exact")
    with torch.no_grad():
        assert (snn(IMAGES[0]) - model(IMAGES[0])).abs().max() <= 1e-4
    ops = {s["operation"] for s in report.spiking}
    assert ops == {"relu", "maxpool"}
    floats = {s["operation"] for s in report.floating}
    assert {"weights", "affine", "average"} <= floats


def test_resnet_ledger_lists_residual_adds_and_functional_relus():
    _, report = mbe.convert(resnet(functional=True), IMAGES, timesteps=10, mode="exact")
    sums = {s["path"]: s["calls_per_forward"] for s in report.floating if s["operation"] == "sum"}
    assert sums == {"4": 1.0, "5": 1.0}
    functional = [s["path"] for s in report.spiking if s["via"] == "functional call"]
    assert functional == ["4", "5"]


class WithUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.act, self.unused = nn.Linear(4, 8), nn.ReLU(), nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


def test_a_module_calibration_never_reaches_is_listed_not_converted():
    model = WithUnused().eval()
    with pytest.warns(UserWarning, match=r"never reached \['unused'\]"):
        _, report = mbe.convert(model, [torch.randn(3, 4)], mode="exact")
    assert [s["path"] for s in report.spiking] == ["act"]
    unused = [s for s in report.floating if s["path"] == "unused"]
    assert len(unused) == 1 and "never ran" in unused[0]["reason"]


def test_spiking_vgg_is_close_and_fast_equals_spike():
    """T = 10 as the paper's CNN rows; one shared ReLU neuron serves ReLU and max pooling."""
    model = vgg()
    snn, report = mbe.convert(model, IMAGES, timesteps=10, mode="mbe")
    with torch.no_grad():
        ann, fast = model(IMAGES[1]), snn(IMAGES[1])
        assert float((fast - ann).norm() / ann.norm()) < 0.05
        assert torch.equal(set_mode(snn, "spike")(IMAGES[1]), fast)
    assert all(s["firing_rate"] > 0 and s["sops"] > 0 for s in report.spiking)
    domains = {tuple(p["domain"]) for s in report.spiking for p in s["primitives"].values()}
    assert len(domains) == 1  # one ReLU neuron for the whole network


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class SinNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sin(self.fc(x)).relu()


def test_custom_activation_module_raises_with_its_path():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), Swish()).eval()
    with pytest.raises(ConversionError, match=r"(?s)`3` \(Swish\).*sigmoid.*keep_float=\['3'\]"):
        mbe.convert(model, [torch.randn(3, 4)], mode="exact")


def test_functional_call_it_cannot_convert_raises_with_its_path():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), SinNet()).eval()
    with pytest.raises(ConversionError, match=r"`2` \(SinNet\) computes `sin`"):
        mbe.convert(model, [torch.randn(3, 4)], mode="exact")


def test_keep_float_allows_an_unsupported_module_and_lists_it():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), Swish()).eval()
    snn, report = mbe.convert(model, [torch.randn(3, 4)], mode="exact", keep_float=["3"])
    kept = [s for s in report.floating if s["path"] == "3"]
    assert {s["operation"] for s in kept} == {"sigmoid", "mul"}
    assert all("keep_float" in s["reason"] for s in kept)
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.allclose(snn(x), model(x), atol=1e-6)


def test_nothing_to_convert_raises():
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).eval()
    with pytest.raises(ConversionError, match="found nothing to convert"):
        mbe.convert(model, [torch.randn(3, 4)])


def test_bad_arguments_are_named():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU()).eval()
    with pytest.raises(TypeError, match=r"iterable of batches.*\[batch\]"):
        mbe.convert(model, torch.randn(3, 4))
    with pytest.raises(ConversionError, match="keep_float names no module"):
        mbe.convert(model, [torch.randn(3, 4)], keep_float=["nope"])
    with pytest.raises(ValueError, match="mode must be one of"):
        mbe.convert(model, [torch.randn(3, 4)], mode="fast")


def test_timm_vit_fused_attention_is_converted():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("vit_medium_patch16_reg4_gap_256", pretrained=False, depth=2,
                              img_size=32, embed_dim=64, num_heads=4, num_classes=5).eval()
    x = torch.randn(2, 3, 32, 32)
    snn, report = mbe.convert(model, [x], mode="exact")
    with torch.no_grad():
        assert (snn(x) - model(x)).abs().max() <= 1e-4
    attention = [s for s in report.spiking if s["operation"] == "attention"]
    assert [s["path"] for s in attention] == ["blocks.0.attn", "blocks.1.attn"]
