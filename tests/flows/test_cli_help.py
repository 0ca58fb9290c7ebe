"""Every command's ``--help`` (issue 14): the walk reaches every subcommand, nested ones too, and
each help exits 0 with a usage line and an example that the parser itself accepts, without
importing Prefect. Replaces a test that only checked the top-level commands' help strings."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# One process walks the tree and asks every command for its help: one interpreter start, not forty.
WALK = """
import contextlib, io, json, sys
from flows.cli import _parser, main
from flows.cli_help import walk
out = {}
for path, _ in walk(_parser()):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        try:
            code = main([*path.split(), "--help"])
        except SystemExit as stop:
            code = stop.code
    out[path] = {"code": code, "help": buffer.getvalue()}
out["<prefect>"] = sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))
print(json.dumps(out))
"""


def _helps(tmp_path: Path) -> dict[str, dict[str, object]]:
    result = subprocess.run([sys.executable, "-c", WALK], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"DRIFTLINE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin",
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_every_command_and_subcommand_has_help_with_an_example_the_parser_accepts(tmp_path: Path) -> None:
    from flows.cli import _parser

    helps = _helps(tmp_path)
    assert helps.pop("<prefect>") == []  # --help, for any command, answers without Prefect
    # The walk reaches the nested commands, not only the top level.
    nested = {"", "demo", "registry", "registry promote", "audit verify-export", "deployments render", "keys"}
    assert nested <= set(helps)
    problems = []
    for path, answer in helps.items():
        text = str(answer["help"])
        _, marker, epilog = text.rpartition("\nexample")  # the epilog: "example:" or "examples:", then lines
        examples = [line.strip() for line in epilog.splitlines()[1:] if line.strip()] if marker else []
        if answer["code"] != 0 or not text.startswith(f"usage: python -m flows {path}".rstrip()):
            problems.append(f"{path!r}: exit {answer['code']}, help starts {text[:40]!r}")
        elif not examples or not all(e.startswith("python -m flows ") and path in e for e in examples):
            problems.append(f"{path!r}: no example of itself in {text[-200:]!r}")
        for example in examples:  # an example that no longer parses is a regression of the help
            try:
                _parser().parse_args(shlex.split(example)[3:])
            except SystemExit:
                problems.append(f"{path!r}: example {example!r} does not parse")
    assert problems == []


def test_every_subcommand_takes_home_and_the_last_one_wins() -> None:
    from flows.cli import _parser
    from flows.cli_help import walk

    parser = _parser()
    for path, _ in walk(parser):
        if path in ("", "registry", "audit", "deployments", "contract", "server"):
            continue  # a group needs its subcommand; those are walked on their own
        words = [*path.split(), *(["list"] if path == "keys" else []), *(["flow"] if path == "run" else []),
                 *(["x"] if path in ("registry show", "registry promote", "registry rollback",
                                     "audit verify-export") else []),
                 *(["1"] if path == "registry promote" else []), *(["--reason", "r"] if path == "erase" else []),
                 *(["x", "1", "--reason", "r"] if path in ("registry approve", "registry reject") else []),
                 *(["x", "--group", "g", "--entity", "id"] if path == "contract infer" else [])]
        assert parser.parse_args([*words, "--home", "/after"]).home == "/after", path
        assert parser.parse_args(["--home", "/before", *words]).home == "/before", path
        assert parser.parse_args(["--home", "/before", *words, "--home", "/after"]).home == "/after", path
    assert parser.parse_args(["--home", "/a", "audit", "--home", "/b", "verify", "--home", "/c"]).home == "/c"
    assert parser.parse_args(["--home", "/a", "audit", "--home", "/b", "verify"]).home == "/b"
    assert parser.parse_args(["keys", "list"]).home is None  # neither: DRIFTLINE_HOME, then ./.driftline
