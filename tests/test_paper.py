import pytest

from mbe import paper

FUNCTIONS = ["gelu", "rsqrt", "reciprocal", "exp2"]


def test_values_load_with_source_tags():
    v = paper.values()
    for table in ("table_x", "table_vii", "edi", "table_xi", "table_1", "table_2", "table_3", "table_4"):
        assert v[table]["source"] in ("AAAI", "appendix (second-hand)"), table
    assert v["table_x"]["source"] == "appendix (second-hand)"
    assert v["table_1"]["source"] == "AAAI"


def test_table_x_is_complete_and_positive():
    functions = paper.values()["table_x"]["functions"]
    assert sorted(functions) == sorted(FUNCTIONS)
    for function in FUNCTIONS:
        assert len(functions[function]["mse"]) == 6
        for n in paper.TABLE_X_N:
            value = paper.table_x_mse(function, n)
            assert isinstance(value, float) and value > 0


def test_table_x_spot_checks_against_the_paper():
    assert paper.table_x_mse("gelu", 4) == pytest.approx(2.3e-4)
    assert paper.table_x_mse("reciprocal", "no_decay_n8") == pytest.approx(4.5e-3)
    assert paper.table_x_mse("exp2", "8") == pytest.approx(5.3e-5)
    assert paper.table_x_domain("gelu") == (-120, 10)
    assert paper.table_x_domain("rsqrt") == (0.5, 2)


def test_unknown_keys_raise_clearly():
    with pytest.raises(KeyError, match="unknown Table X function"):
        paper.table_x_mse("tanh", 4)
    with pytest.raises(KeyError, match="N=3"):
        paper.table_x_mse("gelu", 3)


def test_values_returns_a_copy():
    paper.values()["table_x"]["functions"]["gelu"]["mse"]["4"] = -1.0
    assert paper.table_x_mse("gelu", 4) == pytest.approx(2.3e-4)
