"""`suanli report` (issue 24): one document per decision; refusals before any work."""

from __future__ import annotations

from pathlib import Path


def test_markdown_report_and_refusals(cli, tmp_path: Path):
    out = tmp_path / "r.md"
    r = cli("report", "--model", "llama-3.1-8b", "--systems", "dgx-h100,1xrtx-4090,atlas-800-a2", "--input", "512",
            "--output", "128", "--out", str(out))
    assert r.returncode == 0, r.stderr
    md = out.read_text()
    for heading in ("## Ranking", "## Cost and energy", "## Export-control", "## Engine assumed",
                    "## Validation", "## Sources"):
        assert heading in md, heading
    assert "P10-P90" in md and "huggingface.co/meta-llama" in md
    # an existing file is not replaced without --force; a wrong suffix is refused; one line, exit 2
    before = out.read_text()
    r = cli("report", "--model", "llama-3.1-8b", "--systems", "dgx-h100", "--out", str(out))
    assert r.returncode == 2 and "--force" in r.stderr and out.read_text() == before
    r = cli("report", "--model", "llama-3.1-8b", "--systems", "dgx-h100", "--out", str(tmp_path / "r.pdf"))
    assert r.returncode == 2 and ".html or .md" in r.stderr and "Traceback" not in r.stderr
