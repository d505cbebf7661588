#!/usr/bin/env python3
"""mkman.py - write a man page from a roff template and the program's own --help text.

The --help text is the one source of a command's synopsis and options: this script runs
the built program and turns what it prints into roff, so the man page cannot drift from
the program. The template (docs/man/NAME.SECTION.in) holds only what --help does not say:
the NAME line, the description, files, exit status, see also.

Template directives (each alone on a line):
  .\\" @help PROG [ARG...]   the formatted output of `PROG [ARG...] --help`
  .\\" @commands PROG        for each command in `PROG --help`'s "commands:" list, a
                            subsection with `PROG CMD --help`, and for each subcommand
                            that CMD's usage names (`PROG CMD SUB ...`), `PROG CMD SUB
                            --help` when it prints something not shown yet
  @VERSION@                 replaced by --version's value

Usage: mkman.py --bindir DIR --version V TEMPLATE OUT
Exit 0 written; 2 a program failed its --help (non-zero exit or empty output) or a
directive is malformed, with one line on stderr.
"""
import argparse
import os
import re
import subprocess
import sys

ENTRY = re.compile(r"^( {1,6})(-\S(?:\S| (?! ))*|[a-z][a-z0-9-]*) {2,}(\S.*)$")


class HelpError(Exception):
    pass


def run_help(bindir, argv):
    exe = os.path.join(bindir, argv[0])
    cmd = [exe] + argv[1:] + ["--help"]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    except OSError as e:
        raise HelpError("%s: %s" % (exe, e.strerror))
    shown = " ".join(argv + ["--help"])
    if p.returncode != 0 or not p.stdout.strip():
        raise HelpError("`%s` exited %d with %d bytes on stdout (want 0 and a usage)"
                        % (shown, p.returncode, len(p.stdout)))
    return p.stdout.decode("utf-8")


def esc(text):
    """Escape text for roff: backslashes, hyphens (so options copy as ASCII), leading dots."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith(".") or text.startswith("'"):
        text = "\\&" + text
    return text


def help_to_roff(text):
    """Option and command lines ("  --opt ARG   what it does") become tagged paragraphs;
    their deeper-indented continuation lines join the description; every other line is
    kept as it is, in a no-fill block, so a synopsis keeps its alignment."""
    out, verbatim, entry = [], False, False
    for line in text.rstrip("\n").split("\n"):
        m = ENTRY.match(line)
        if m:
            if verbatim:
                out.append(".fi")
                verbatim = False
            out += [".TP", ".B %s" % esc(m.group(2)), esc(re.sub(" {2,}", " ", m.group(3)))]
            entry = True
        elif entry and re.match(r"^ {1,6}-\S", line):
            out += [".TP", ".B %s" % esc(line.strip())]  # an option with no text of its own
        elif entry and line.strip() and len(line) - len(line.lstrip()) >= 8:
            out.append(esc(line.strip()))
        elif not line.strip():
            if verbatim:
                out.append(".fi")
                verbatim = False
            entry = False
            out.append(".PP")
        else:
            if not verbatim:
                out += [".PP", ".nf"]
                verbatim = True
            entry = False
            out.append(esc(line))
    if verbatim:
        out.append(".fi")
    return out


def commands_of(text):
    """The command words of a "commands:" list: the first word of each entry line."""
    names, inside = [], False
    for line in text.split("\n"):
        if line.strip().endswith(":") and not line.startswith(" "):
            inside = line.strip() == "commands:"
            continue
        m = ENTRY.match(line)
        if inside and m and not m.group(2).startswith("-"):
            names.append(m.group(2))
    return names


def subcommands_of(text, prefix):
    """Subcommands a usage names: the word after `prefix` (alternatives split on '|'),
    when it is a lower-case word and not an option or a placeholder."""
    subs = []
    pat = re.compile(r"(?:^|\s)" + re.escape(prefix) + r" ([a-z][a-z0-9|-]*)(?=\s|$)")
    for m in pat.finditer(text):
        for s in m.group(1).split("|"):
            if s and s not in subs:
                subs.append(s)
    return subs


def expand(line, bindir, seen):
    m = re.match(r'^\.\\" @(help|commands) (.+)$', line)
    if not m:
        return [line]
    argv = m.group(2).split()
    if m.group(1) == "help":
        text = run_help(bindir, argv)
        seen.add(text)
        return help_to_roff(text)
    top = run_help(bindir, argv)
    seen.add(top)
    out = []
    cmds = commands_of(top)
    if not cmds:
        raise HelpError("`%s --help` lists no commands" % " ".join(argv))
    for cmd in cmds:
        text = run_help(bindir, argv + [cmd])
        out += ['.SS "%s"' % esc(" ".join(argv + [cmd]))]
        out += help_to_roff(text)
        seen.add(text)
        for sub in subcommands_of(text, " ".join(argv + [cmd])):
            more = run_help(bindir, argv + [cmd, sub])
            if more not in seen:
                out += help_to_roff(more)
                seen.add(more)
    return out


def main():
    ap = argparse.ArgumentParser(description="write a man page from a template and --help output")
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("template")
    ap.add_argument("out")
    a = ap.parse_args()
    try:
        with open(a.template, encoding="utf-8") as f:
            lines = f.read().replace("@VERSION@", a.version).split("\n")
        out, seen = [], set()
        for line in lines:
            out += expand(line, a.bindir, seen)
    except (HelpError, OSError) as e:
        print("mkman: %s: %s" % (a.template, e), file=sys.stderr)
        return 2
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out).rstrip("\n") + "\n")
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
