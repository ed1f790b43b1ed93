"""The commands the documentation shows: every fenced block of README.md and docs/*.md, and the logical
shell commands of its ```sh blocks (a trailing comment stripped, `\\` continuations joined, a heredoc kept
with the line that opens it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\S*)\s*$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
# what a fence may be tagged as: sh commands, program output, config, code
LANGUAGES = {"sh", "text", "yaml", "toml", "json", "jsonc", "python"}


@dataclass(frozen=True)
class Block:
    doc: str      # path relative to the repository root
    line: int     # line of the opening fence
    lang: str
    body: str


@dataclass(frozen=True)
class Command:
    doc: str
    line: int     # first line of the command in the doc
    key: str      # first line, trailing comment stripped, blanks collapsed: what the coverage table names
    text: str     # the whole command as written (with its heredoc, without comments after it)


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def fenced_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if opened is None and match:
            opened, body = (number, match.group(1)), []
        elif opened is not None and line.strip() == "```":
            blocks.append(Block(str(path.relative_to(REPO)), opened[0], opened[1], "\n".join(body) + "\n"))
            opened = None
        elif opened is not None:
            body.append(line)
    if opened is not None:
        raise ValueError(f"{path}:{opened[0]}: fence never closed")
    return blocks


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a `#` outside quotes, at the start or after a blank)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def shell_commands(block: Block) -> list[Command]:
    lines = block.body.splitlines()
    commands: list[Command] = []
    index = 0
    while index < len(lines):
        start = index
        current = strip_comment(lines[index])
        index += 1
        if not current.strip():
            continue
        parts = [current]
        while parts[-1].endswith("\\") and index < len(lines):
            parts.append(strip_comment(lines[index]))
            index += 1
        heredoc = HEREDOC.search(parts[-1])
        if heredoc:
            while index < len(lines) and lines[index].strip() != heredoc.group(2):
                parts.append(lines[index])
                index += 1
            parts.append(heredoc.group(2))
            index += 1
        key = " ".join(current.split())
        commands.append(Command(block.doc, block.line + 1 + start, key, "\n".join(parts)))
    return commands


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in fenced_blocks(path)]


def all_commands() -> list[Command]:
    return [command for block in all_blocks() if block.lang == "sh" for command in shell_commands(block)]


def find(doc: str, key: str) -> Command:
    """The documented command `key` of `doc`; fails (the docs changed) when it is not there any more."""
    found = [command for command in all_commands() if command.doc == doc and command.key == key]
    assert found, f"{doc} no longer shows `{key}`: update tests/docs/test_documented_commands.py"
    return found[0]


def sh_block_containing(doc: str, key: str) -> Block:
    """The ```sh block of `doc` one of whose commands is `key`."""
    for block in fenced_blocks(REPO / doc):
        if block.lang == "sh" and any(command.key == key for command in shell_commands(block)):
            return block
    raise AssertionError(f"{doc} has no ```sh block with `{key}`: update tests/docs/test_documented_commands.py")
