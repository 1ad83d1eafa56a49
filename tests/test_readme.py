"""Every command the README shows exists, with the flags it shows (the jobs' behaviour has its own tests)."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from nbmf.cli import _register_jobs, app

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def _commands(prefix: str) -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    out = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(prefix):
                out.append(shlex.split(line.replace("[", " ").replace("]", " ").replace("…", "x")))
    return out


def test_readme_nbmf_commands_and_flags_exist() -> None:
    _register_jobs()
    runner = CliRunner()
    cmds = _commands("nbmf ")
    assert len(cmds) >= 12
    for argv in cmds:
        sub = argv[1]
        res = runner.invoke(app, [sub, "--help"], terminal_width=200)
        assert res.exit_code == 0, f"`nbmf {sub}` from the README does not exist"
        for flag in (a for a in argv[2:] if a.startswith("--")):
            assert flag.split("=")[0] in res.output, f"README uses `nbmf {sub} {flag}`, which it does not take"


def test_readme_setup_commands_are_make_targets() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    lines = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines() if ln.strip()]
    assert lines == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo: install\n\t$(BIN)/nbmf demo" in makefile and "\ntest: install\n" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_cluster_commands_name_real_files() -> None:
    for argv in _commands("ray ") + _commands("serve ") + _commands("kubectl "):
        for a in argv:
            if a.endswith((".yaml", ".yml")):
                assert (ROOT / a).exists(), a
        if "-m" in argv:
            mod = argv[argv.index("-m") + 1]
            assert (ROOT / (mod.replace(".", "/") + ".py")).exists(), mod
