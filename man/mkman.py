#!/usr/bin/env python3
"""Writes the man pages of the vdisk tools from their --help (one source: the tools' own help).

Usage: mkman.py OUTDIR VERSION TOOL...
       mkman.py --filter TOOL [SUBCOMMAND] --help      (what help2man reads; see below)

For each TOOL (a built binary) it writes OUTDIR/TOOL.1.gz and, for a tool whose --help lists
"Subcommands:" (vdisk), OUTDIR/TOOL-SUBCOMMAND.1.gz for each of them (`man vdisk-fsck`, as git
does). OUTDIR is emptied first, so a removed subcommand leaves no page behind.

The pages are help2man's, run on the tool's --help through a filter that maps the layout the
tools print (CLI11 plus tools/common/help_text.cpp) onto help2man's conventions:
  - "Exit codes:" becomes the EXIT STATUS section;
  - the lines under "Examples:" or "EXAMPLES" become verbatim example lines;
  - vdisk-mount's upper-case headings (NAME, DESCRIPTION, DURABILITY, ...) become sections of
    the same names (NAME and DESCRIPTION are help2man's own);
  - "Positionals:" moves into OPTIONS as "Arguments:";
  - a tool with subcommands and no examples (vdisk) gets the first example of each subcommand.
NAME's one line is the tool's first line of --help (the line `vdisk --help` lists, for a
subcommand). SEE ALSO names the related pages and docs/CLI.md, the full manual: that pointer is
the only text of a page written here.
The date is SOURCE_DATE_EPOCH's when set (reproducible builds), else today's.
"""
import gzip
import os
import re
import shlex
import subprocess
import sys
import tempfile

UPPER_HEADING = re.compile(r"^[A-Z][A-Z0-9 -]*[A-Z]$")


def run_help(tool, sub):
    args = [tool] + ([sub] if sub else []) + ["--help"]
    out = subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True).stdout
    return out


def blocks_of(text):
    """The help text as blocks of lines separated by blank lines."""
    blocks, cur = [], []
    for line in text.splitlines():
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def dedent(lines):
    width = min(indent_of(l) for l in lines)
    return [l[width:] for l in lines]


def example_lines(lines):
    return ["  $ " + l.strip() for l in lines]


def indent_of(line):
    return len(line) - len(line.lstrip())


def join_hanging_lines(block):
    """Lines indented deeper than the indented line before them (a list item's wrapped text, as in
    fsck's numbered steps) joined to it: help2man takes a deeper line for a new paragraph."""
    out, joined = [], False
    for line in block:
        if out and 0 < indent_of(out[-1]) < indent_of(line):
            out[-1] += " " + line.strip()
            joined = True
        else:
            out.append(line)
    if not joined:
        return out
    # The items of such a list are paragraphs of their own (help2man would run them together).
    spaced = out[:1]
    for line in out[1:]:
        if indent_of(line) > 0 and indent_of(spaced[-1]) > 0:
            spaced.append("")
        spaced.append(line)
    return spaced


def filter_block(block):
    """One block of --help in help2man's conventions (a list of lines; empty to drop it)."""
    block = join_hanging_lines(block)
    head, body = block[0], block[1:]
    if UPPER_HEADING.match(head) and body:
        if head == "NAME":
            return []
        if head == "DESCRIPTION":
            return dedent(body)
        if head == "EXAMPLES":
            return ["Examples:"] + example_lines(body)
        return ["*" + head.title() + "*"] + dedent(body)
    if head == "Examples:":
        return [head] + example_lines(body)
    if head == "Exit codes:":
        return ["*Exit status*"] + body
    return block


def is_section(block):
    return bool(UPPER_HEADING.match(block[0])) and len(block) > 1


def is_paragraph(block):
    return not block[0].startswith(" ") and not block[0].endswith(":") and not is_section(block)


def filtered_help(text):
    blocks = blocks_of(text)
    positionals = [b for b in blocks if b[0] == "Positionals:"]
    blocks = [b for b in blocks if b[0] != "Positionals:"]
    # A plain paragraph after an upper-case section (vdisk-mount's key note after ERRORS) is not
    # part of it (a section's text is indented): it moves up to the options, before the first one.
    first = next((i for i, b in enumerate(blocks) if is_section(b) and b[0] not in ("NAME", "DESCRIPTION")),
                 len(blocks))
    stray = [b for b in blocks[first:] if is_paragraph(b)]
    blocks = blocks[:first] + stray + [b for b in blocks[first:] if not is_paragraph(b)]
    out = []
    for block in blocks:
        out.append(filter_block(block))
        if block[0] == "Options:":
            out.extend(["Arguments:"] + p[1:] for p in positionals)
    return "\n\n".join("\n".join(b) for b in out if b) + "\n"


def polish(roff):
    """help2man's page with no hyphenation (option names stay whole) and examples unfilled (one
    command a line, as typed)."""
    lines = roff.splitlines()
    out, in_examples = [], False
    for line in lines:
        if line.startswith(".SH"):
            if in_examples:
                out.append(".fi")
            in_examples = line.strip() == ".SH EXAMPLES"
        if in_examples and line == ".br":
            continue
        if in_examples and line == ".IP":
            out.extend([".IP", ".nf"])
            continue
        out.append(line)
        if line.startswith(".TH "):
            out.append(".nh")
    return "\n".join(out) + "\n"


def one_line_summary(text, tool):
    """NAME's text: the NAME block's (after "TOOL - "), else the first line of the help."""
    blocks = blocks_of(text)
    if blocks and blocks[0][0] == "NAME":
        line = blocks[0][1].strip()
        return line.split(" - ", 1)[1] if " - " in line else line
    line = blocks[0][0].strip()
    if line.startswith(tool + ": "):
        line = line[len(tool) + 2:]
    line = line.rstrip(".")
    if len(line) > 1 and line[1].islower():
        line = line[0].lower() + line[1:]
    return line


def subcommands(text):
    """(name, one-line description) of each subcommand the help lists."""
    for block in blocks_of(text):
        if block[0] == "Subcommands:":
            return [tuple(re.split(r"\s{2,}", l.strip(), maxsplit=1)) for l in block[1:]]
    return []


def subcommand_examples(tool, text):
    """For a tool with subcommands and no examples of its own (vdisk): an Examples block of the
    first example of each subcommand's --help."""
    if any(b[0] == "Examples:" for b in blocks_of(text)):
        return ""
    lines = []
    for sub, _ in subcommands(text):
        examples = [b for b in blocks_of(run_help(tool, sub)) if b[0] == "Examples:"]
        if examples and len(examples[0]) > 1:
            lines.append(examples[0][1])
    return "\n\nExamples:\n" + "\n".join(lines) + "\n" if lines else ""


def see_also(page, parent, tools, children):
    """The other tools; a tool with subcommands also names their pages, a subcommand its tool's."""
    refs = ([parent] if parent else []) + [t for t in tools if t not in (page, parent)] + children
    lines = ["[SEE ALSO]"]
    lines += [".BR \\%%%s (1)%s" % (p, "," if i + 1 < len(refs) else "") for i, p in enumerate(refs)]
    lines += [".PP", "The manual of all the tools, with the key and SIZE conventions and JSON output:",
              ".I docs/CLI.md",
              "in the vdisk sources (installed in the documentation directory, e.g.",
              ".IR /usr/share/doc/vdisk )."]
    return "\n".join(lines) + "\n"


def help2man(page, version, name, filter_cmd, include, out_path):
    with tempfile.TemporaryDirectory() as tmp:
        inc = os.path.join(tmp, "include.h2m")
        with open(inc, "w") as f:
            f.write(include)
        raw = os.path.join(tmp, page + ".1")
        subprocess.run(["help2man", "--no-info", "--section=1", "--version-string=%s %s" % (page, version),
                        "--source=vdisk %s" % version, "--manual=vdisk manual", "--name=" + name,
                        "--include=" + inc, "--output=" + raw, filter_cmd], check=True)
        with open(raw) as src:
            page_text = polish(src.read())
        with open(out_path, "wb") as dst:
            with gzip.GzipFile(filename="", mode="wb", fileobj=dst, mtime=0, compresslevel=9) as gz:
                gz.write(page_text.encode())


def generate(outdir, version, tools):
    os.makedirs(outdir, exist_ok=True)
    for old in os.listdir(outdir):
        os.remove(os.path.join(outdir, old))
    # (page, tool, subcommand, NAME text)
    jobs = []
    for tool in tools:
        base = os.path.basename(tool)
        text = run_help(tool, None)
        jobs.append((base, tool, None, one_line_summary(text, base)))
        for sub, summary in subcommands(text):
            jobs.append(("%s-%s" % (base, sub), tool, sub, one_line_summary(summary, base)))
    tool_pages = [os.path.basename(t) for t in tools]
    me = shlex.quote(sys.executable) + " " + shlex.quote(os.path.abspath(__file__))
    for page, tool, sub, name in jobs:
        base = os.path.basename(tool)
        filter_cmd = " ".join([me, "--filter", shlex.quote(tool)] + ([shlex.quote(sub)] if sub else []))
        children = [j[0] for j in jobs if j[2] and j[1] == tool] if not sub else []
        include = see_also(page, base if sub else None, tool_pages, children)
        help2man(page, version, name, filter_cmd, include, os.path.join(outdir, page + ".1.gz"))
    print("mkman: %d man pages in %s" % (len(jobs), outdir))


def main(argv):
    if len(argv) >= 3 and argv[0] == "--filter":
        # help2man runs "FILTER --help" (and never --version: mkman passes --version-string).
        tool, rest = argv[1], argv[2:-1]
        if argv[-1] != "--help" or len(rest) > 1:
            sys.exit("mkman.py --filter: expected TOOL [SUBCOMMAND] --help")
        text = run_help(tool, rest[0] if rest else None)
        if not rest:
            text += subcommand_examples(tool, text)
        sys.stdout.write(filtered_help(text))
        return
    if len(argv) < 3:
        sys.exit(__doc__)
    generate(argv[0], argv[1], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
