"""Every ```python block of README.md and docs/week*.md runs as written.

The conventions, for whoever writes a page:

- A block whose first line is a comment starting with `# needs:` uses something only the reader
  has (`# needs: your own images in my_project/CLASS/`, `# needs: a checkpoint file of your
  own`). It is compiled here (no syntax errors) but not run. Every other block runs.
- The blocks of one page run in order in one namespace, as a reader pasting them one after
  another into one Python session would: the pages are written that way (a later block uses
  the imports and names of earlier ones). Each page starts afresh: a new namespace, its own
  empty temporary working directory, and DLF_HOME in a temporary folder.
- A top-level `print(...)` whose line ends with a comment says what it prints: the comment
  must equal the printed text (`print(x.shape)  # torch.Size([8, 10])`).
- Nothing is substituted: a block that trains uses tiny sizes itself (a few hundred items, a
  few epochs), so that every page runs in seconds here and on a reader's laptop.
"""

import ast
import contextlib
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("week*.md"))]
NEEDS = "# needs:"


@dataclass
class Block:
    page: Path
    line: int  # the line of the block's first code line in the page, counted from 1
    code: str

    @property
    def needs_user_files(self) -> bool:
        return self.code.lstrip().startswith(NEEDS)


def python_blocks(page: Path) -> list[Block]:
    """The ```python fenced blocks of a Markdown page, in order."""
    blocks, lines, i = [], page.read_text().splitlines(), 0
    while i < len(lines):
        if re.fullmatch(r"```python\s*", lines[i]):
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].startswith("```"))
            blocks.append(Block(page, start + 1, "\n".join(lines[start:end]) + "\n"))
            i = end
        i += 1
    return blocks


def trailing_comments(code: str) -> dict[int, str]:
    """Line number (in `code`, from 1) -> the text of the comment that ends the line."""
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {t.start[0]: t.string[1:].strip() for t in tokens if t.type == tokenize.COMMENT}


def is_print(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == "print"
    )


def run_block(block: Block, scope: dict) -> None:
    """Run the block one top-level statement at a time; check what commented prints print."""
    padded = "\n" * (block.line - 1) + block.code  # tracebacks give the page's own line numbers
    tree = ast.parse(padded, filename=str(block.page))
    comments = trailing_comments(block.code)
    for stmt in tree.body:
        code = compile(ast.Module([stmt], type_ignores=[]), str(block.page), "exec")
        expected = comments.get(stmt.end_lineno - block.line + 1) if is_print(stmt) else None
        if expected is None:
            exec(code, scope)
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, scope)
        printed = " ".join(out.getvalue().split())
        assert printed == " ".join(expected.split()), (
            f"{block.page.name}:{stmt.lineno}: prints {printed!r}, its comment says {expected!r}"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_of_the_page_run(page, tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "dlf-home"))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    scope: dict = {"__name__": "__main__"}
    for block in python_blocks(page):
        if block.needs_user_files:
            compile(block.code, f"{page.name}:{block.line}", "exec")  # still valid Python
            continue
        run_block(block, scope)


def test_the_blocks_are_found_and_the_marker_is_honoured():
    # the check can fail: a parser that found no blocks would pass every page trivially
    week3 = python_blocks(ROOT / "docs" / "week3-cnn.md")
    assert len(week3) >= 8
    assert sum(b.needs_user_files for b in week3) == 1  # the pretrained checkpoint on disk
    assert all(b.code.strip() for b in week3)
    readme = python_blocks(ROOT / "README.md")
    assert readme and readme[0].needs_user_files  # the week-1 snippet needs your own images


def test_a_wrong_print_comment_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nx = 2\nprint(x + 1)  # 4\n```\n")
    (block,) = python_blocks(page)
    with pytest.raises(AssertionError, match=r"page.md:5: prints '3', its comment says '4'"):
        run_block(block, {})


def command_help(capsys, command: str) -> str:
    from dlf.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def device_option_exists(command: str) -> bool:
    from dlf.cli import build_parser

    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
        build_parser().parse_args([command, "--help"])
    return "--device" in out.getvalue()


@pytest.mark.skipif(
    not (device_option_exists("train") and device_option_exists("predict")),
    reason="train/predict --device is added on another branch of issue 12; this checks the docs once it is in",
)
@pytest.mark.parametrize("command", ["train", "predict"])
def test_the_device_option_that_dlf_env_and_week2_describe_exists(capsys, command):
    from dlf.data.env import env_report

    assert "--device auto" in env_report()
    assert "`--device auto`" in (ROOT / "docs" / "week2-environment.md").read_text()
    text = " ".join(command_help(capsys, command).split())
    for choice in ("auto", "cpu", "cuda", "mps"):
        assert choice in text


@pytest.mark.slow
def test_week1_quickstart_example_does_what_its_docstring_says():
    import subprocess
    import sys

    example = ROOT / "examples" / "week1_quickstart.py"
    out = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, check=True
    ).stdout
    assert "about 0.99" in example.read_text()
    accuracy = float(re.search(r"validation accuracy (\S+)", out).group(1))
    assert accuracy >= 0.97
