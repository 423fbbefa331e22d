"""The README's Python examples run as written, so they cannot rot: every ```python block, in
order, in one namespace, in a scratch directory (the example saves a file)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_a_usage_and_a_conversion_example():
    blocks = _blocks()
    assert any("mbe.fit(" in b for b in blocks)
    assert any("mbe.convert(" in b and "tokenizer(" in b and '"spike"' in b for b in blocks)


def test_the_readme_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(_blocks()):
        exec(compile(block, f"README.md, python block {i + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    cosine_gap = float(re.search(r"1 - cosine: (\S+)", printed).group(1))
    assert 0 <= cosine_gap < 1e-3  # the converted MiniLM agrees with the ANN
    assert "spiking: " in printed and (tmp_path / "minilm-snn.pt").exists()
