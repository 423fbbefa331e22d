"""The spiking operators: exact parity, fast path == simulation, spike multiplication, stats.

Small fits (T = 8, N = 2) keep this fast; each primitive is fitted once per session.
"""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from mbe.native import loader, tables
from mbe.native import softmax as native_softmax
from mbe.core.dynamics import spike_code
from mbe.ops import Activation, LayerNorm, Multiply, Softmax
from mbe.ops.primitives import dyadic_range, fitted, identity
from mbe.ops.multiply import coincidence_sum, intensity_matrix
from mbe.ops.softmax import LOG2E

T, N = 8, 2


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def gelu():
    return Activation("gelu", timesteps=T, activation_basis=N)


@pytest.fixture(scope="module")
def softmax():
    return Softmax(timesteps=T, arithmetic_basis=N)


@pytest.fixture(scope="module")
def layer_norm():
    ln = torch.nn.LayerNorm(24)
    with torch.no_grad():
        ln.weight.normal_(generator=_gen(1))
        ln.bias.normal_(generator=_gen(2))
    return ln


def _both_modes(op, *args, method=None, **kwargs):
    """Run op in "mbe" then "spike" mode (recording), returning outputs and reports."""
    outs, reports = [], []
    for mode in ("mbe", "spike"):
        op.mode, op.record = mode, True
        op.reset_stats()
        fn = getattr(op, method) if method else op
        outs.append(fn(*args, **kwargs))
        reports.append(op.report())
    op.mode, op.record = "mbe", False
    return outs, reports


def _strip_mode(report):
    return {k: v for k, v in report.items() if k != "mode"}


# -- the fast table ------------------------------------------------------------------------------
def test_table_is_exact_at_every_break(gelu, native):
    """The bucketed lookup equals the neuron's float64 staircase at, just below and just above
    every breakpoint, for float32 and float64 inputs, with and without the C loops."""
    f = gelu.fitted("gelu")
    st = f.neuron.staircase
    b = st.breaks[(st.breaks > -20) & (st.breaks < 20)]
    inf = torch.tensor(math.inf, dtype=torch.float64)
    probe = torch.cat([b, torch.nextafter(b, -inf), torch.nextafter(b, inf),
                       torch.linspace(-130, 15, 5001, dtype=torch.float64)])
    for dtype in (torch.float32, torch.float64):
        x = probe.to(dtype)
        fast, idx, summary = f.table(x, f.domain, index=True)
        ref = f.neuron(x)
        assert torch.equal(fast, ref)
        assert torch.equal(f.table(x, f.domain)[0], ref)  # the merged table (no index)
        assert torch.equal(fast, f.table._torch(x, f.domain, False, dtype)[0])
        assert torch.equal(idx.long(), torch.searchsorted(st.breaks, x.to(torch.float64),
                                                           right=True))
        assert summary.outside == int(((x < -120) | (x > 10)).sum())


def test_table_marks_nan():
    table = tables.Table(torch.tensor([0.0, 1.0], dtype=torch.float64),
                          torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    y, idx, summary = table(torch.tensor([-1.0, 0.5, float("nan"), 2.0]), (0.0, 1.0), index=True)
    assert y[[0, 1, 3]].tolist() == [1.0, 2.0, 3.0] and math.isnan(y[2])
    assert idx.tolist() == [0, 1, -1, 2]
    assert (summary.non_finite, summary.outside) == (1, 2)


def _edge_inputs(breaks: Tensor, dtype, n_random: int = 1001) -> Tensor:
    """Breaks and their neighbours, specials and random values; an odd length (a SIMD tail)."""
    inf = torch.tensor(math.inf, dtype=torch.float64)
    b = breaks[::7]
    x = torch.cat([b, torch.nextafter(b, -inf), torch.nextafter(b, inf),
                   torch.randn(n_random, generator=_gen(20), dtype=torch.float64) * 8,
                   torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e30, -1e30],
                                dtype=torch.float64)]).to(dtype)
    return x[torch.randperm(len(x), generator=_gen(21))]


def _with_simd(flag, fn, monkeypatch):
    monkeypatch.setattr(loader, "SIMD", flag)
    return fn()


def _same(a, b):
    """Equal tuples of (tensor | None | Summary), NaN equal to NaN."""
    for u, v in zip(a, b):
        if isinstance(u, torch.Tensor):
            assert torch.equal(u.nan_to_num(nan=123.0), v.nan_to_num(nan=123.0))
        else:
            assert u == v


@pytest.mark.parametrize("level", [True, "avx2"])
def test_vector_and_scalar_loops_agree(gelu, softmax, monkeypatch, native, level):
    """The AVX-512 loops, and the AVX2 ones that run without them, give the scalar loops'
    values, piece indices and statistics bit for bit: the lookup, the quantiser and the
    softmax numerator (those without an AVX2 form run their scalar loop at that level)."""
    feature = "avx512" if level is True else "avx2"
    if not loader.status()[feature]:
        pytest.skip(f"this CPU has no {feature}: its vector loops do not run here, so both "
                    "sides of the comparison would be the scalar loop")
    f = gelu.fitted("gelu")
    ident = identity(-3.0, 5.0, 2, T)
    x32 = _edge_inputs(f.neuron.staircase.breaks, torch.float32)
    rows = (torch.randn(37, 45, generator=_gen(22)) * 20).contiguous()
    rows[3, 5], rows[4, :] = math.nan, -math.inf
    rows[4, 2] = 1.0
    several_blocks = torch.cat([x32] * 4)[:-3]  # the vector loops' blocks, then a tail
    assert len(several_blocks) > 4 * 8 * 64 and len(several_blocks) % 8
    cases = [lambda: f.table(x32, f.domain, index=True), lambda: f.table(x32, f.domain),
             lambda: f.table(several_blocks, f.domain, index=True),
             lambda: ident.table(x32, ident.domain, index=True),
             lambda: native_softmax.softmax_exp(rows, 1.4426950408889634, softmax.numerator.table,
                                         index=True),
             lambda: native_softmax.softmax_exp(rows, 1.4426950408889634, softmax.numerator.table,
                                         denominator=(softmax.denominator.table, (0.5, 1.0)))]
    for case in cases:
        _same(_with_simd(level, case, monkeypatch), _with_simd(False, case, monkeypatch))


def test_softmax_split_makes_only_fractions_on_the_grid(native):
    """Every f the float32 split makes is j / 2^24 (the proof in `mbe/native/softmax.c`),
    the key of the softmax's 2^x table: rows of every scale, and entries just below the row
    maximum, where z = (x - m) log2e lies in (-1/2, 0) and f = fl(z + 1)."""
    g = _gen(23)
    rows = torch.cat([torch.randn(64, 128, generator=g) * s for s in (1e-6, 0.1, 3, 40)])
    rows[:, 0] = 7.0
    rows[:, 1:9] = 7.0 - torch.rand(rows.shape[0], 8, generator=g) * 2.0**-torch.arange(8)
    _, _, k, f = native_softmax.softmax_split(rows.contiguous(), LOG2E, -126)
    j = f.double() * 2**tables.FRACTION_BITS
    assert len(f) > 0 and torch.equal(j, j.round()) and bool(((f >= 0) & (f <= 1)).all())


def test_fraction_table_equals_the_table_on_every_grid_point(monkeypatch, native):
    """The softmax loop's fraction table (`tables.Fractions`) gives the table's piece and
    value at every f = j / 2^24, j = 0 .. 2^24, in every loop: breaks on and between grid
    points, below 0 and above 1, repeated, and cells with five and with more than five
    breaks (counted on past the record)."""
    g = _gen(24)
    step = 2.0**-tables.FRACTION_BITS
    on_grid = torch.randint(0, 2**tables.FRACTION_BITS + 1, (3000,), generator=g) * step
    between = torch.rand(3000, generator=g, dtype=torch.float64)
    crowded = 0.25 + torch.arange(12) * 9 * step  # 12 breaks in one cell of 128 grid points
    full = 0.5 + torch.tensor([3.0, 20, 40, 60, 127]) * step  # a cell's five slots filled
    tiny = torch.tensor([1e-12, 3e-9, -0.5, 1.0, 1.0 + step / 2, 2.0])
    breaks = torch.cat([on_grid, between, crowded, tiny, on_grid[:10]])
    breaks = torch.cat([breaks[(breaks < 0.5) | (breaks >= 0.5 + 128 * step)], full]).sort().values
    values = torch.rand(len(breaks) + 1, generator=g, dtype=torch.float64) + 1.0
    values[5:9] = values[4]  # equal neighbours, merged in the value lookup
    table = tables.Table(breaks, values)
    assert bool((table.fractions().records[:, 0] >> 23 & 1).any())  # an overflowing cell
    j = torch.arange(2**tables.FRACTION_BITS + 1)
    f = j.double() * step
    # rows [0, f - 1, ...] with log2e = 1: z = f - 1 and f = z - floor(z); the last f (1)
    # comes from z = -2^-30, where f = fl(z + 1)
    x = (f - 1).float()
    x[-1] = -(2.0**-30)
    cols = 128
    pad = -len(x) % (cols - 1)
    x = torch.cat([x, torch.full((pad,), -0.5)]).reshape(-1, cols - 1)
    rows = torch.cat([torch.zeros(len(x), 1), x], 1).contiguous()
    want = torch.searchsorted(breaks, f, right=True)
    for simd in (True, "avx2", False):
        monkeypatch.setattr(loader, "SIMD", simd)
        _, _, idx, _, _ = native_softmax.softmax_exp(rows, 1.0, table, index=True)
        assert torch.equal(idx[:, 1:].reshape(-1)[:len(f)].long(), want)
        e, _, _, _, _ = native_softmax.softmax_exp(rows, 1.0, table)
        assert torch.equal(e[:, 1:].reshape(-1)[:len(f)], values[want].float() * 0.5)  # 2^-1


def test_fraction_table_refuses_more_breaks_than_a_record_can_count():
    breaks = torch.zeros(1 << 23, dtype=torch.float64)
    with pytest.raises(ValueError, match="fewer bases or time steps"):
        tables.Fractions.build(breaks, torch.zeros(len(breaks) + 1, dtype=torch.float64))


def test_quantiser_equals_the_encoder_staircase():
    """The identity encoder's closed form is proven against its staircase and then equals
    the table lookup on every input, including NaN, infinities and saturation."""
    ident = identity(-3.0, 5.0, 2, T)
    st = ident.neuron.staircase
    for dtype in (torch.float32, torch.float64):
        assert ident.table.exact_for(dtype)
        x = _edge_inputs(st.breaks, dtype)
        _same(ident.table(x, ident.domain, index=True),
              ident.table.table(x, ident.domain, index=True, wide=True))


def test_quantiser_that_disagrees_falls_back_to_the_table():
    ident = identity(-3.0, 5.0, 2, T)
    wrong = tables.Quantiser(ident.table.table, ident.domain[0] + ident.beta / 3, ident.beta,
                              ident.m, ident.span)
    assert not wrong.exact_for(torch.float32)
    x = _edge_inputs(ident.neuron.staircase.breaks, torch.float32)
    _same(wrong(x, ident.domain, index=True), ident.table(x, ident.domain, index=True))


# -- spike multiplication -------------------------------------------------------------------------
def test_dyadic_range_covers_and_is_exact():
    beta, m = dyadic_range(-3.0, 5.0, 8, 16)
    span = 8 * (2**16 - 1)
    assert math.log2(beta).is_integer()
    assert beta * (m - 0.5) <= -3.0 and beta * (m - 0.5 + span) >= 5.0


def test_spike_product_equals_product_of_reconstructions():
    """Eq. 11 computed literally, sum(D * S) from the two spike tensors plus the bias
    cross-terms, equals the product of the two identity reconstructions; and sum(D * S) is
    q q', the form spike mode evaluates."""
    ia, ib = identity(-3.0, 5.0, 4, T), identity(-2.0, 2.0, 4, T)
    g = _gen(3)
    a = torch.rand(500, generator=g, dtype=torch.float64) * 8 - 3
    b = torch.rand(500, generator=g, dtype=torch.float64) * 4 - 2
    ra, sa = ia.neuron.simulate(a)
    rb, sb = ib.neuron.simulate(b)
    d = intensity_matrix(ia, ib)
    assert d.shape == (4 * T, 4 * T)
    coincident = coincidence_sum(sa, sb, ia, ib)
    qa, qb = spike_code(sa), spike_code(sb)
    assert torch.equal(coincident, qa * qb)
    total = coincident + ib.m * qa + ia.m * qb + ia.m * ib.m
    product = ia.beta * ib.beta * total
    assert torch.allclose(product, ra * rb, rtol=1e-12, atol=1e-12)
    # and the operator returns exactly that, in both modes
    mul = Multiply((-3.0, 5.0), (-2.0, 2.0), timesteps=T, identity_basis=4)
    (fast, spiking), _ = _both_modes(mul, a, b)
    assert torch.equal(fast, product) and torch.equal(spiking, product)


def test_multiply_error_bound_and_modes():
    mul = Multiply((-4.0, 4.0), (-1.0, 3.0), timesteps=T, identity_basis=8)
    ia, ib = mul.encoders
    g = _gen(4)
    a = torch.rand(64, 1, generator=g) * 8 - 4
    b = torch.rand(1, 32, generator=g) * 4 - 1
    (fast, spiking), (r_fast, r_spike) = _both_modes(mul, a, b)
    assert fast.shape == (64, 32) and fast.dtype == torch.float32
    assert torch.equal(fast, spiking)
    ea, eb = ia.beta / 2, ib.beta / 2  # the encoders' worst-case reconstruction errors
    bound = a.abs() * eb + b.abs() * ea + ea * eb + 1e-6 * (a * b).abs()
    assert bool(((fast - a * b).abs() <= bound).all())
    assert _strip_mode(r_fast) == _strip_mode(r_spike)
    assert r_fast["products"] == {"products": 64 * 32, "coincidences":
                                  r_spike["products"]["coincidences"]}
    mul.mode = "exact"
    assert torch.equal(mul(a, b), a * b)


def test_matmul_modes_agree_and_count():
    mul = Multiply((-2.0, 2.0), (-3.0, 3.0), timesteps=T, identity_basis=2)
    g = _gen(5)
    q = torch.randn(2, 3, 5, 8, generator=g).clamp(-2, 2)
    k = torch.randn(2, 3, 8, 6, generator=g).clamp(-3, 3)
    (fast, spiking), (r_fast, r_spike) = _both_modes(mul, q, k, method="matmul")
    assert torch.equal(fast, spiking)
    assert torch.allclose(fast, q @ k, atol=0.1)
    assert r_fast["products"]["products"] == 2 * 3 * 5 * 6 * 8
    assert _strip_mode(r_fast) == _strip_mode(r_spike)
    with pytest.raises(ValueError, match="matmul needs"):
        mul.matmul(q, q)


def test_out_of_range_operands_are_counted_not_hidden():
    mul = Multiply((0.0, 1.0), (0.0, 1.0), timesteps=T, identity_basis=2)
    lo, hi = mul.encoders[0].domain
    a = torch.tensor([0.5, hi + 3.0, lo - 2.0])
    mul(a, torch.ones(3))
    rep = mul.report()["primitives"]["identity_a"]
    assert rep["outside"] == 2 and rep["fraction_outside"] == pytest.approx(2 / 3)
    assert rep["max_seen"] == pytest.approx(hi + 3.0)


# -- activations ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, reference", [
    ("gelu", F.gelu), ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
    ("tanh", torch.tanh), ("silu", F.silu), ("relu", F.relu)])
def test_exact_mode_is_the_float_function_and_fits_nothing(kind, reference):
    op = Activation(kind, timesteps=T, activation_basis=N, domain=(-7.0, 7.0), mode="exact")
    x = torch.linspace(-6, 6, 1001)
    assert torch.allclose(op(x), reference(x), atol=1e-6)
    assert not op.describe()[kind]["fitted"]  # exact mode never fits


def test_gelu_and_gelu_tanh_are_different_functions():
    x = torch.linspace(-4, 4, 801, dtype=torch.float64)
    exact = Activation("gelu", mode="exact")(x)
    tanh_form = Activation("gelu_tanh", mode="exact")(x)
    assert float((exact - tanh_form).abs().max()) > 1e-4


def test_activation_fast_path_equals_simulation(gelu):
    x = torch.randn(3, 40, generator=_gen(6)) * 3
    x[0, 0] = 200.0  # outside the fitted domain: evaluated and counted
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        (fast, spiking), (r_fast, r_spike) = _both_modes(gelu, x.to(dtype))
        assert fast.dtype == dtype and fast.shape == x.shape
        assert torch.equal(fast, spiking)
        assert _strip_mode(r_fast) == _strip_mode(r_spike)
    p = r_fast["primitives"]["gelu"]
    assert p["outside"] == 1 and p["seen"] == x.numel()
    assert p["comparisons"] == x.numel() * N * T
    assert 0 < p["firing_rate"] < 1 and p["spikes"] == round(p["firing_rate"] * p["comparisons"])


def test_activation_rejects_unknown_kind_and_mode(gelu):
    with pytest.raises(ValueError, match="unknown activation"):
        Activation("swish")
    gelu.mode = "fast"
    try:
        with pytest.raises(ValueError, match="mode must be one of"):
            gelu(torch.zeros(2))
    finally:
        gelu.mode = "mbe"


# -- softmax --------------------------------------------------------------------------------------
def test_softmax_exact_mode_is_softmax():
    op = Softmax(timesteps=T, arithmetic_basis=N, mode="exact", dim=1)
    x = torch.randn(4, 7, 5, generator=_gen(7)) * 4
    assert torch.allclose(op(x), torch.softmax(x, 1), atol=1e-6)


def test_softmax_modes_agree_with_causal_and_additive_masks(softmax):
    x = torch.randn(2, 3, 9, 9, generator=_gen(8)) * 3
    causal = torch.tril(torch.ones(9, 9, dtype=torch.bool))
    additive = torch.zeros(2, 1, 1, 9).masked_fill(torch.rand(2, 1, 1, 9, generator=_gen(9)) < 0.3,
                                                   torch.finfo(torch.float32).min)
    for mask, ref_in in ((None, x), (causal, x.masked_fill(~causal, -math.inf)),
                         (additive, x + additive)):
        (fast, spiking), (r_fast, r_spike) = _both_modes(softmax, x, mask=mask)
        assert torch.equal(fast, spiking)
        assert _strip_mode(r_fast) == _strip_mode(r_spike)
        ref = torch.softmax(ref_in, -1)
        assert float((fast - ref).abs().max()) < 0.05  # a T=8, N=2 fit: coarse but close
        if mask is causal:
            assert bool((fast[..., ~causal] == 0).all())  # masked positions get exactly 0


def test_softmax_fused_kernel_equals_torch_path(softmax, monkeypatch, native):
    x = torch.randn(6, 33, generator=_gen(10)) * 5
    x[0, 3] = -200.0  # flushed: e^x below float32's normal range
    fused = softmax(x)
    monkeypatch.setattr(native_softmax, "softmax_exp", lambda *a, **k: None)
    assert torch.equal(softmax(x), fused)


def test_softmax_one_loop_fast_path_equals_spike_mode(softmax):
    """Without recording, the fast path normalises inside the C loop; it still equals the
    spike simulation bit for bit, and reports the same ranges."""
    x = torch.randn(5, 7, 37, generator=_gen(23)) * 4
    mask = torch.rand(5, 1, 37, generator=_gen(24)) > 0.3
    outs, reports = [], []
    for mode in ("mbe", "spike"):
        softmax.mode, softmax.record = mode, False
        softmax.reset_stats()
        outs.append(softmax(x, mask))
        reports.append(softmax.report()["primitives"])
    softmax.mode = "mbe"
    assert torch.equal(outs[0], outs[1])
    for name in ("exp2", "reciprocal"):
        for key in ("seen", "outside", "min_seen", "max_seen"):
            assert reports[0][name][key] == reports[1][name][key], (name, key)


def test_softmax_fully_masked_row_raises(softmax):
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match="masked out"):
        softmax(torch.zeros(3, 4), mask)


def test_softmax_rows_sum_to_one_and_report_is_json(softmax):
    softmax.reset_stats()
    softmax.record = True
    y = softmax(torch.randn(16, 20, generator=_gen(11)) * 2)
    softmax.record = False
    assert float((y.sum(-1) - 1).abs().max()) < 0.05
    rep = json.loads(json.dumps(softmax.report()))
    assert rep["calls"] == 1 and set(rep["primitives"]) == {
        "exp2", "identity_exp2", "reciprocal", "identity_reciprocal"}
    assert rep["primitives"]["exp2"]["outside"] == 0
    assert rep["primitives"]["reciprocal"]["seen"] == 16


# -- layer norm -----------------------------------------------------------------------------------
def test_layernorm_exact_mode_is_layer_norm(layer_norm):
    op = LayerNorm.from_module(layer_norm, timesteps=T, arithmetic_basis=N, mode="exact")
    x = torch.randn(3, 5, 24, generator=_gen(12)) * 3 + 1
    assert torch.allclose(op(x), layer_norm(x), atol=1e-5)


def test_layernorm_shares_parameters(layer_norm):
    op = LayerNorm.from_module(layer_norm, timesteps=T, arithmetic_basis=N)
    before = layer_norm.weight.detach().clone()
    op(torch.randn(2, 24, generator=_gen(13)))
    assert op.weight is layer_norm.weight and op.bias is layer_norm.bias
    assert torch.equal(layer_norm.weight, before)
    with pytest.raises(ValueError, match="trailing dims"):
        op(torch.zeros(2, 23))


@pytest.mark.parametrize("input_range", [(-6.0, 8.0), None])
def test_layernorm_modes_agree(layer_norm, input_range):
    op = LayerNorm.from_module(layer_norm, timesteps=T, arithmetic_basis=N,
                               input_range=input_range)
    x = torch.randn(4, 6, 24, generator=_gen(14)) * 2 + 1
    with torch.no_grad():
        (fast, spiking), (r_fast, r_spike) = _both_modes(op, x)
        ref = layer_norm(x)
    assert torch.equal(fast, spiking)
    assert _strip_mode(r_fast) == _strip_mode(r_spike)
    assert float((fast - ref).norm() / ref.norm()) < 0.05
    assert r_fast["primitives"]["rsqrt"]["outside"] == 0  # the parity fix keeps M in [0.5, 2)


def test_layernorm_channel_scales_rescue_ordinary_channels_from_an_outlier(layer_norm):
    """One outlier channel (as in a Transformer's residual stream) widens a shared range and
    coarsens every other channel; per-channel powers of two keep each channel's resolution,
    and "mbe" and "spike" still agree bit for bit."""
    x = torch.randn(4, 6, 24, generator=_gen(15))
    x[..., 3] = 60 * x[..., 3]  # the outlier channel
    c = x - x.mean(-1, keepdim=True)
    peak = c.abs().reshape(-1, 24).amax(0)
    lo, hi = float(x.min()), float(x.max())
    shared = LayerNorm.from_module(layer_norm, timesteps=6, arithmetic_basis=N,
                                   input_range=(lo, hi))
    scaled = LayerNorm.from_module(layer_norm, timesteps=6, arithmetic_basis=N,
                                   input_range=(lo, hi), channel_radius=peak)
    with torch.no_grad():
        ref = layer_norm(x)
        (fast, spiking), (r_fast, r_spike) = _both_modes(scaled, x)
        err = {name: float((op(x) - ref)[..., [i for i in range(24) if i != 3]].norm()
                           / ref.norm()) for name, op in (("shared", shared), ("scaled", scaled))}
    assert torch.equal(fast, spiking)
    assert _strip_mode(r_fast) == _strip_mode(r_spike)
    assert r_fast["primitives"]["identity_input"]["outside"] == 0
    assert err["scaled"] < 0.25 * err["shared"], err
    info = scaled.describe()["identity_input"]
    assert info["scale"] == "channel" and info["channel_exponents"][1] - \
        info["channel_exponents"][0] >= 5  # the outlier's scale is 2^5 or more above the rest
    with pytest.raises(ValueError, match="one per normalised element"):
        LayerNorm.from_module(layer_norm, channel_radius=peak[:5])


def test_primitives_are_shared_not_refitted():
    a = fitted("gelu", (-120.0, 10.0), N, T)
    assert a is fitted("gelu", (-120, 10), N, T)
    assert Activation("gelu", timesteps=T, activation_basis=N).fitted("gelu") is a


def test_covering_domain_fits_only_where_inputs_are():
    from mbe.ops import DEFAULT_DOMAINS, covering_domain

    assert covering_domain("gelu", -5.0, 9.0) is None  # the paper's (-120, 10) covers it
    assert covering_domain("gelu", -5.0, 24.0) == (-5.0, 24.0)
    assert covering_domain("tanh", *DEFAULT_DOMAINS["tanh"]) is None


def test_activation_error_is_measured_on_the_calibrated_range():
    """Inputs past the default domain: the neuron is fitted on their range, none fall outside,
    and the error is the neuron's, not the staircase's flat continuation."""
    from mbe.ops import ConversionConfig
    from mbe.studies.accuracy import eval_activation

    x = torch.linspace(-3.0, 20.0, 4001)
    setup = ConversionConfig(timesteps=8, activation_basis=2)
    calibrated = eval_activation("gelu", x, setup, "test", calibrated=(-3.0, 20.0))
    default = eval_activation("gelu", x, setup, "test")
    assert calibrated["fraction_outside"] == 0.0
    assert default["fraction_outside"] > 0.4
    assert calibrated["max_abs_error"] < 0.1 * default["max_abs_error"]
