#!/usr/bin/env python3
"""Lists functions longer than a limit in C++ sources (the guide's rule: 80 lines at most).

    scripts/function_lengths.py [--limit 80] [--all] DIR_OR_FILE...

A function is a brace block opened directly in a namespace, class or file scope whose header (the
text since the previous ';', '{' or '}') has a parameter list and is not an initializer. Its
length runs from the header's first line to the closing brace, inclusive (lambdas and local
classes count towards the function that holds them). Comments, strings and character literals
are skipped; preprocessor lines are ignored. Exit status 1 when a function is over the limit
(each is printed as FILE:LINE: NAME is N lines), 0 otherwise; --all prints every function.
"""
import argparse
import pathlib
import re
import sys

SOURCE_SUFFIXES = {".cpp", ".cc", ".h", ".hpp"}


def strip_code(text):
    """The text with comments, string and char literals and preprocessor lines blanked (newlines
    kept, so line numbers stay right)."""
    out, i, n = [], 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "\n":
            at_line_start = True
            out.append(c)
            i += 1
            continue
        if not c.isspace():
            at_line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join("\n" if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            delim = ")" + (m.group(1) if m else "") + '"'
            end = text.find(delim, i + 2)
            end = n if end < 0 else end + len(delim)
            out.append("".join("\n" if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator: 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j, n - 1) - i + 1))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def classify(header, parent):
    """The kind of block a '{' opens, given its header text and the enclosing block's kind."""
    h = " ".join(header.split())
    if re.search(r"\bnamespace\b", h) or re.match(r'^extern\b', h):
        return "namespace"
    if parent not in ("namespace", "class"):
        return "other"
    if "(" not in h:
        return "class" if re.search(r"\b(class|struct|union|enum)\b", h) else "other"
    if re.search(r"\boperator\b", h):
        return "function"
    depth = 0
    for ch in h:
        depth += ch in "([<"
        depth -= ch in ")]>"
        if ch == "=" and depth == 0:
            return "other"  # an initializer
    if re.match(r"^(class|struct|union|enum)\b", h) and h.index("(") > h.find(":"):
        return "class"  # a class with a base whose template arguments call something
    return "function"


def functions(path):
    """(name, first line, length) of every function in the file."""
    code = strip_code(pathlib.Path(path).read_text(encoding="utf-8", errors="replace"))
    stack = [("namespace", 0, "")]  # kind, first line, header
    header_start, header = None, []
    line = 1
    found = []
    for ch in code:
        if ch == "\n":
            line += 1
        if ch == "{":
            text = "".join(header)
            kind = classify(text, stack[-1][0])
            stack.append((kind, header_start or line, text))
            header_start, header = None, []
        elif ch == "}":
            if len(stack) > 1:
                kind, first, text = stack.pop()
                if kind == "function":
                    m = re.search(r"([~\w:<>]+(?:\s*operator\s*\S+)?)\s*\(", " ".join(text.split()))
                    found.append((m.group(1) if m else "?", first, line - first + 1))
            header_start, header = None, []
        elif ch == ";":
            header_start, header = None, []
        else:
            if header_start is None and not ch.isspace():
                header_start = line
            if header_start is not None:
                header.append(ch)
    return found


def sources(args):
    for a in args:
        p = pathlib.Path(a)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.suffix in SOURCE_SUFFIXES)
        else:
            yield p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--all", action="store_true", help="print every function, not only long ones")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    over = 0
    for f in sources(a.paths):
        for name, first, length in functions(f):
            if a.all or length > a.limit:
                print(f"{f}:{first}: {name} is {length} lines")
            over += length > a.limit
    if over:
        print(f"{over} function(s) over {a.limit} lines", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
