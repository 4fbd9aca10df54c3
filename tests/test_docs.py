"""The docs match the program: every ```console block of README.md and docs/*.md is run.

Each file's blocks run in order, in one scratch copy of the repository's layout (a temporary
folder with links to examples/, benchmarks/, tests/plugin_example, README.md and docs/, and a
``../shared`` beside it that resolves as the repository's does), so a later block reads what
an earlier one wrote (``nnv run ... --out runs/xor``, then ``ls runs/xor``). A ```toml block
whose first line is ``# PATH`` is written to PATH there, as a reader would save it.

What runs: ``$ nnv ...``, ``ls``, ``cat``, ``echo $?`` and ``pip install ./tests/plugin_example``
(into a temporary folder put on PYTHONPATH, never into this environment). Any other command
fails the test: the docs then need a marker. Markers are HTML comments on the line(s) before a
block's fence: ``<!-- docs-test: slow -->`` for a block that takes more than about 10 s (run
only under ``-m slow``), ``<!-- docs-test: skip REASON -->`` for one that cannot run here.

How output is compared: the output is stdout and stderr together, under a fixed terminal width
(COLUMNS=80) and NO_COLOR. Both sides are normalised line by line (rich's box characters become
spaces, runs of whitespace one space, blank lines dropped), then MASKS replace what differs
from run to run or machine to machine. A line ``...`` in the doc stands for any number of
output lines. A command the doc shows without output is run and its output not compared;
it must not fail with exit code 2 (bad input).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = ["examples", "benchmarks", "tests/plugin_example", "README.md", "docs"]
COLUMNS = 80
COMMAND_TIMEOUT = 900  # seconds; a slow block's longest command takes a few minutes

MARKER = re.compile(r"<!--\s*docs-test:\s*(slow|skip)\b\s*(.*?)\s*-->")
BOX = str.maketrans({c: " " for c in "│┃┌┐└┘├┤┬┴┼─━┏┓┗┛┡┩╇┳┻╋╭╮╰╯═║╔╗╚╝"})

# What a doc may show differently from a run: wall times and the machine's core count.
MASKS: list[tuple[re.Pattern[str], str]] = [
    # `executor local, 2 workers`: one worker per core by default
    (re.compile(r"\b\d+ workers\b"), "<n> workers"),
    # `time: 0.001 s` (nnv verify)
    (re.compile(r"\btime: [0-9.]+ s\b"), "time: <s> s"),
    # the `seconds` row of nnv run's and nnv train's tables
    (re.compile(r"^seconds [0-9.]+( s)?$"), "seconds <s>"),
    # "seconds": 0.000831 in JSON
    (re.compile(r'"seconds": [0-9.e+-]+'), '"seconds": <s>'),
    # trials.csv's seconds column: the one number written with exactly three decimals
    (re.compile(r"(?<=,)\d+\.\d{3}(?=,)"), "<s>"),
]


@dataclass
class Command:
    text: str  # as run (continuation lines joined)
    expected: list[str]  # the output lines the doc shows
    line: int  # where the command is in the doc (1-based)


@dataclass
class Block:
    line: int
    commands: list[Command] = field(default_factory=list)
    slow: bool = False
    skip: str | None = None
    write: tuple[str, str] | None = None  # a ```toml block to save: (path, text)


def parse(doc: Path) -> list[Block]:
    """The doc's console blocks and the toml blocks it asks the reader to save, in order."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = lines[index].strip()
        if fence not in ("```console", "```toml"):
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        body = lines[index + 1 : end]
        block = Block(line=index + 1)
        for marker in _markers_before(lines, index):
            if marker.group(1) == "slow":
                block.slow = True
            else:
                block.skip = marker.group(2) or "marked skip"
        if fence == "```console":
            block.commands = _commands(body, index + 2)
            blocks.append(block)
        elif body and body[0].startswith("# "):
            block.write = (body[0][2:].strip(), "\n".join(body) + "\n")
            blocks.append(block)
        index = end + 1
    return blocks


def _markers_before(lines: list[str], index: int) -> list[re.Match[str]]:
    found = []
    index -= 1
    while index >= 0 and (MARKER.search(lines[index]) or not lines[index].strip()):
        if match := MARKER.search(lines[index]):
            found.append(match)
        index -= 1
    return found


def _commands(body: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    index = 0
    while index < len(body):
        line = body[index]
        if not line.startswith("$ "):
            if not commands:
                raise AssertionError(f"line {first_line + index}: output before any `$` command")
            commands[-1].expected.append(line)
            index += 1
            continue
        start, text = index, line[2:]
        while text.endswith("\\") and index + 1 < len(body):
            index += 1
            text = text[:-1] + " " + body[index].strip()
        commands.append(Command(text=text, expected=[], line=first_line + start))
        index += 1
    return commands


def normalise(lines: list[str]) -> list[str]:
    """Box characters and whitespace away, blank lines dropped, MASKS applied."""
    out = []
    for line in lines:
        text = " ".join(line.translate(BOX).split())
        if not text:
            continue
        for pattern, replacement in MASKS:
            text = pattern.sub(replacement, text)
        out.append(text)
    return out


def first_difference(expected: list[str], actual: list[str]) -> str | None:
    """None when ``actual`` matches ``expected`` (``...`` lines match any run of lines)."""
    want, got = normalise(expected), normalise(actual)
    i = j = 0
    while i < len(want):
        if want[i] == "...":
            if i + 1 == len(want):
                return None
            following = want[i + 1]
            while j < len(got) and got[j] != following:
                j += 1
            i += 1
            continue
        if j >= len(got):
            return f"the doc shows {want[i]!r}, the output has ended"
        if want[i] != got[j]:
            return f"the doc shows {want[i]!r}, the output has {got[j]!r}"
        i, j = i + 1, j + 1
    if j < len(got):
        return f"the output goes on with {got[j]!r}, which the doc does not show"
    return None


class Scratch:
    """A temporary copy of the repository's layout where one doc's commands run."""

    def __init__(self, base: Path, shared: Path | None) -> None:
        self.root = base / "repo"
        self.root.mkdir()
        for name in LINKED:
            link = self.root / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(ROOT / name)
        if shared is not None:
            (base / "shared").symlink_to(shared)
        self.site = base / "site"
        self.env = dict(os.environ, COLUMNS=str(COLUMNS), NO_COLOR="1", TERM="dumb")
        self.env.pop("FORCE_COLOR", None)
        bin_dir = str(Path(sys.executable).parent)
        self.env["PATH"] = os.pathsep.join([bin_dir, self.env.get("PATH", "")])
        self.last_code = 0

    def run(self, command: str) -> list[str]:
        words = command.split()
        if command.strip() == "echo $?":
            return [str(self.last_code)]
        if words[:2] == ["pip", "install"]:
            return self._pip_install(words[2:])
        if words[0] == "ls":
            command = "ls -C" + command[2:]  # columns, as on a terminal (not one a line)
        if words[0] not in ("nnv", "ls", "cat"):
            raise AssertionError(
                f"`{command}`: the docs test runs nnv, ls, cat and echo $? only;"
                " mark the block <!-- docs-test: skip REASON -->"
            )
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        self.last_code = done.returncode
        return done.stdout.splitlines()

    def _pip_install(self, arguments: list[str]) -> list[str]:
        """Install a local project into a folder on PYTHONPATH, as tests/test_third_party_plugin
        does: never into the environment running the tests, and without any index."""
        if arguments != ["./tests/plugin_example"]:
            raise AssertionError(f"pip install {' '.join(arguments)}: only the plugin example")
        source = self.site.parent / "plugin-src"
        shutil.copytree(
            ROOT / "tests" / "plugin_example",
            source,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
        )
        pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
        pip += ["--no-index", "--disable-pip-version-check", "--quiet"]
        done = subprocess.run(
            [*pip, "--target", str(self.site), str(source)],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(self.site), self.env.get("PYTHONPATH")])
        )
        self.last_code = 0
        return []


def shared_if_needed(doc: Path) -> Path | None:
    """The benchmark data, when the doc's commands read ../shared (skipped or, in CI, failed
    when it is absent, as tests/conftest.py does)."""
    if "../shared/" not in doc.read_text(encoding="utf-8"):
        return None
    from conftest import _need_shared

    return _need_shared().parent


def check_doc(doc: Path, base: Path, slow: bool) -> None:
    blocks = parse(doc)
    scratch = Scratch(base, shared_if_needed(doc))
    name = doc.relative_to(ROOT)
    for block in blocks:
        if block.skip is not None or (block.slow and not slow):
            continue
        if block.write is not None:
            target = scratch.root / block.write[0]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.write[1], encoding="utf-8")
            continue
        for command in block.commands:
            output = scratch.run(command.text)
            if not command.expected:
                assert scratch.last_code != 2, (
                    f"{name}:{command.line}: `{command.text}` failed with bad input:\n"
                    + "\n".join(output)
                )
                continue
            difference = first_difference(command.expected, output)
            if difference is not None:
                pytest.fail(
                    f"{name}:{command.line}: `{command.text}`: {difference}\n"
                    "--- output ---\n" + "\n".join(output),
                    pytrace=False,
                )


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_docs_console_blocks(doc: Path, tmp_path: Path) -> None:
    check_doc(doc, tmp_path, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_docs_console_blocks_with_slow_ones(
    doc: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the docs' slow blocks run under -m slow")
    if not any(block.slow for block in parse(doc)):
        pytest.skip(f"{doc.name} has no slow block")
    check_doc(doc, tmp_path, slow=True)


# -- the comparison itself ---------------------------------------------------------------


def test_times_and_rich_boxes_are_normalised_away() -> None:
    doc = ["┌──────┬─────┐", "│ seconds   │ 0.05 │", "time: 0.001 s", '{"seconds": 0.000831}']
    run = ["┏━━┓", "┃ seconds ┃ 12.5 ┃", "time: 3.25 s", '{"seconds": 2.5e-05}']
    assert first_difference(doc, run) is None


def test_a_changed_number_is_the_first_difference() -> None:
    doc = ["sat", "output: [0.25, 0.30]", "time: 0.001 s"]
    run = ["sat", "output: [0.25, 0.31]", "time: 0.002 s"]
    assert first_difference(doc, run) == (
        "the doc shows 'output: [0.25, 0.30]', the output has 'output: [0.25, 0.31]'"
    )
    assert first_difference(doc, run[:1]) is not None
    assert first_difference(doc[:1], run) is not None


def test_an_ellipsis_line_stands_for_any_lines() -> None:
    assert first_difference(["[", "  ...", "]"], ["[", "a", "b", "]"]) is None
    assert first_difference(["a", "│ ... │"], ["a", "b", "c"]) is None
    assert first_difference(["[", "...", "]"], ["[", "a"]) is not None


def test_markers_and_commands_are_read(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "<!-- docs-test: slow -->\n```console\n$ nnv run \\\n    --out x\nline\n$ echo $?\n0\n```\n"
        "```toml\n# runs/a.toml\nkey = 1\n```\n",
        encoding="utf-8",
    )
    first, second = parse(doc)
    assert first.slow and [c.text for c in first.commands] == ["nnv run  --out x", "echo $?"]
    assert first.commands[0].expected == ["line"] and first.commands[1].line == 6
    assert second.write == ("runs/a.toml", "# runs/a.toml\nkey = 1\n")


def test_writing_plugins_names_every_hook() -> None:
    """Every hook of core/plugin/hookspecs.py is documented in docs/writing-plugins.md."""
    from nnv.core.plugin import hookspecs

    hooks = {name for name in vars(hookspecs) if name.startswith("nnv_")}
    assert len(hooks) >= 13
    text = (ROOT / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
    assert sorted(hook for hook in hooks if f"`{hook}" not in text) == []
