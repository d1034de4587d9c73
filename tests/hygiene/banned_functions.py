#!/usr/bin/env python3
"""Fails when C code calls a banned function (docs/STYLE: no sprintf,
strcpy, strcat, gets, atoi, nor their siblings vsprintf, atol, atoll).

Comments, string literals and character literals are blanked out before
matching, so only calls count: `sprintf (` is found, `snprintf(`, a comment
that names strcpy and "atoi(" in a string are not.

Usage: banned_functions.py ROOT [DIR...]   scan DIRs (default: every C
                                           source directory) under ROOT
       banned_functions.py --self-test     check the matcher itself
Exit status: 0 clean, 1 banned calls found (one line each), 2 usage error.
"""
import os
import re
import sys

BANNED = ("sprintf", "vsprintf", "strcpy", "strcat", "gets", "atoi", "atol", "atoll")
CALL = re.compile(r"(?<![\w.>])(" + "|".join(BANNED) + r")\s*\(")
# Product code, and the code people read next to it: examples are copied
# into services, tests, benchmarks and fuzz targets run on hostile input
# too, and the bounded forms cost nothing there.
DIRS = ("libtrace", "collector", "store", "query", "common", "metrics",
        "examples", "tests", "bench", "fuzz")
EXTS = (".c", ".h", ".cc", ".cpp")


def blank(src):
    """Returns src with comments and string/char literals replaced by
    spaces (newlines kept, so line numbers stay right)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            end = src.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", src[i:end]))
            i = end
        elif src.startswith("//", i):
            end = src.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", src[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def scan_text(src):
    """Yields (line, function) for each banned call in C source text."""
    code = blank(src)
    for m in CALL.finditer(code):
        yield code.count("\n", 0, m.start()) + 1, m.group(1)


def scan(root, dirs):
    hits = []
    for d in dirs:
        top = os.path.join(root, d)
        if not os.path.isdir(top):
            continue
        for base, subdirs, files in os.walk(top):
            subdirs[:] = sorted(s for s in subdirs if s not in ("node_modules", "build"))
            for f in sorted(files):
                if not f.endswith(EXTS):
                    continue
                path = os.path.join(base, f)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for line, fn in scan_text(fh.read()):
                        hits.append("%s:%d: banned call %s()" % (os.path.relpath(path, root), line, fn))
    return hits


def self_test():
    must_hit = {
        "sprintf(buf, \"%d\", x);": "sprintf",
        "n = atoi (s);": "atoi",
        "return strcat(a,\n b);": "strcat",
        "if (gets(line)) {}": "gets",
        "vsprintf(b, f, ap);": "vsprintf",
        "char *p = \"x\"; strcpy(d, s);": "strcpy",
        "x = '\"'; atol(s);": "atol",
    }
    must_miss = [
        "snprintf(buf, sizeof buf, \"%d\", x);",
        "fgets(line, sizeof line, f);",
        "/* never sprintf( here */",
        "// strcpy( would overflow",
        "puts(\"use atoi( never\");",
        "c = '\\''; my_atoi(s); p->strcat(x); s.gets(y);",
        "strcpy_s; atoi_like;",
    ]
    bad = 0
    for src, fn in must_hit.items():
        got = [f for _, f in scan_text(src)]
        if got != [fn]:
            print("self-test: %r: want [%s], got %s" % (src, fn, got))
            bad += 1
    for src in must_miss:
        got = list(scan_text(src))
        if got:
            print("self-test: %r: want no match, got %s" % (src, got))
            bad += 1
    print("self-test: %d of %d cases wrong" % (bad, len(must_hit) + len(must_miss)))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = argv[1]
    dirs = argv[2:] or DIRS
    hits = scan(root, dirs)
    for h in hits:
        print(h)
    print("banned_functions: %d banned call(s) in %s" % (len(hits), " ".join(dirs)))
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
