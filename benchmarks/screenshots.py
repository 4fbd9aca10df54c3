"""Screenshots of nnv's progress displays, taken in a real terminal (tmux) and saved as PNG.

    python benchmarks/screenshots.py --out docs/images

Each command runs in a detached tmux session of a fixed size; once the text of its progress
display appears (and after a few seconds more, so that the numbers have moved), the pane is
captured with its colours (``tmux capture-pane -e -p``) and drawn, one character per cell, in
DejaVu Sans Mono (matplotlib's copy) with Pillow. Needs tmux and ../shared/benchmarks.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.style import Style
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
ACASXU = "../shared/benchmarks/acasxu"
SMLE = "../shared/benchmarks/smle/synthetic"
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"
BACKGROUND, FOREGROUND = (24, 24, 27), (228, 228, 231)
SIZE, COLUMNS, ROWS = 16, 120, 6
CONSOLE = Console(width=COLUMNS, color_system="truecolor")  # resolves the captured styles

# (file, command, text that shows the progress display is up, seconds to wait after it; a
# command has up to 15 minutes to show it: nnv train's certification comes after training)
SHOTS = [
    (
        "verify_progress.png",
        f"nnv verify {ACASXU}/ACASXU_run2a_3_3_batch_2000.onnx {ACASXU}/prop_2.vnnlib",
        "branch and bound",
        6.0,
    ),
    (
        "train_progress.png",
        f"nnv train --data {SMLE}/n2_easy.npz --property {SMLE}/n2_easy.properties.json"
        " --property-name P3 --out /tmp/nnv-screenshot-train",
        "certifying",  # every stage is on screen: the epochs, the projections, the check
        1.0,
    ),
]


def capture(command: str, ready: str, wait: float, timeout: float = 900.0) -> str:
    """The pane, with its ANSI colours, ``wait`` seconds after ``ready`` first shows."""
    session = f"nnv-shot-{int(time.time() * 1000)}"
    path = f"{Path(sys.executable).parent}:$PATH"  # this environment's nnv
    shell = (
        f"export PATH={path}; cd {shlex.quote(str(ROOT))}"
        f" && printf '%s\\n' {shlex.quote('$ ' + command)} && {command}; sleep 600"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(COLUMNS), "-y", str(ROWS), shell],
        check=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while ready not in _pane(session, colours=False):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ready!r} never appeared for `{command}`")
            time.sleep(0.2)
        time.sleep(wait)
        return _pane(session, colours=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def _pane(session: str, colours: bool) -> str:
    flags = ["-e"] if colours else []
    done = subprocess.run(
        ["tmux", "capture-pane", "-p", *flags, "-t", session],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def render(ansi: str, path: Path) -> None:
    """Draw the captured pane as a terminal would: each cell in its colour, bold where bold."""
    font = ImageFont.truetype(str(FONT), SIZE)
    bold = ImageFont.truetype(str(FONT.with_name("DejaVuSansMono-Bold.ttf")), SIZE)
    width = int(font.getlength("M"))
    height = int(SIZE * 1.4)
    lines = ansi.rstrip("\n").split("\n")[:ROWS]
    pad = 12
    image = Image.new("RGB", (COLUMNS * width + 2 * pad, len(lines) * height + 2 * pad), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        cells = [
            (char, segment.style or Style())
            for segment in Text.from_ansi(line).render(CONSOLE)
            for char in segment.text
        ]
        for column, (char, style) in enumerate(cells):
            colour = FOREGROUND
            if style.color is not None and not style.color.is_default:
                triplet = style.color.get_truecolor()
                colour = (triplet.red, triplet.green, triplet.blue)
            if style.dim:
                colour = tuple(c // 2 + BACKGROUND[0] // 2 for c in colour)
            position = (pad + column * width, pad + row * height)
            draw.text(position, char, fill=colour, font=bold if style.bold else font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    arguments = parser.parse_args()
    for name, command, ready, wait in SHOTS:
        ansi = capture(command, ready, wait)
        render(ansi, arguments.out / name)
        print(arguments.out / name)


if __name__ == "__main__":
    main()
