"""Nothing a user saved is lost (issue 22): output paths checked before work, atomic writes, no clobbering."""

import os
from pathlib import Path

import pytest

from suanli.schema import SuanliError
from suanli.schema.files import output_path, text_of, write_atomic

ROW = ("hardware,n_accel,model,scenario,metric,value,input_len,output_len,engine\n"
       "h100-sxm,1,llama-3.1-8b,offline,output_tok_s,{v},1024,128,vllm\n")


def test_output_path_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(SuanliError, match="is a directory"):
        output_path(tmp_path, "out")
    with pytest.raises(SuanliError, match="does not exist"):
        output_path(tmp_path / "nope" / "x.yaml", "out")
    (tmp_path / "x.yaml").write_text("mine")
    with pytest.raises(SuanliError, match="--force"):
        output_path(tmp_path / "x.yaml", "out", force=False)
    assert output_path(tmp_path / "x.yaml", "out", force=True) == tmp_path / "x.yaml"


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "calib.yaml"
    target.write_text("the old calibration")

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_atomic(target, "x" * 10_000)
    assert target.read_text() == "the old calibration"
    assert [p.name for p in tmp_path.iterdir()] == ["calib.yaml"]  # no temporary file left behind


def test_text_of_says_why_a_file_cannot_be_read(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"a,b\n\xff\xfe\x00")
    with pytest.raises(SuanliError, match="not UTF-8"):
        text_of(tmp_path / "bin.csv", "data")
    with pytest.raises(SuanliError, match="is a directory"):
        text_of(tmp_path, "data")


def test_calibrate_never_clobbers_and_writes_nothing_when_nothing_fits(cli, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text(ROW.format(v=9000))
    out = tmp_path / "calib.yaml"
    out.write_text("mine")
    r = cli("calibrate", "--data", str(data), "--out", str(out))
    assert r.returncode == 2 and "--force" in r.stderr and out.read_text() == "mine"
    bad = tmp_path / "bad.csv"
    bad.write_text(ROW.format(v=9000).replace("h100-sxm", "no-such-chip"))
    r = cli("calibrate", "--data", str(bad), "--out", str(out), "--force")
    assert r.returncode == 2 and "nothing written" in r.stderr and out.read_text() == "mine"
    r = cli("calibrate", "--data", str(data), "--out", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert "families" in out.read_text() or "defaults" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "calib.yaml", "rows.csv"]


def test_a_big_field_in_a_measurement_file_is_one_line(cli, tmp_path):
    f = tmp_path / "big.csv"
    f.write_text("hardware,n_accel,model,scenario,metric,value\n" + "a" * 200_000 + ",1,x,offline,total_tok_s,1\n")
    r = cli("validate", "--data", str(f))
    assert r.returncode == 2 and "not a readable CSV" in r.stderr and "Traceback" not in r.stderr
    assert Path(f).exists()
