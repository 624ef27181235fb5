#!/usr/bin/env python3
"""Strip outputs from notebooks before committing (plain json, any python3; no Jupyter needed).

    kernel-setup/strip_outputs.py [--check] [NOTEBOOK.ipynb ...]     (default: notebooks/*.ipynb, not notebooks/out/)

Clears every code cell's outputs and execution_count and the per-cell execution timing metadata that nbclient
records; keeps sources, the kernelspec and all other metadata. Writes in nbformat's own layout (indent 1, sorted
keys, sources as line lists) so a stripped notebook saved from Jupyter shows no diff. Files already stripped are not
rewritten. --check only reports: exit 1 if any notebook carries outputs (for CI or a pre-commit hook).
"""
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELL_METADATA_DROP = ("execution", "collapsed", "scrolled")


def split_lines(text):
    return text.splitlines(True) if isinstance(text, str) else text


def strip(nb):
    for cell in nb.get("cells", []):
        if "source" in cell:
            cell["source"] = split_lines(cell["source"])
        md = cell.get("metadata", {})
        for k in CELL_METADATA_DROP:
            md.pop(k, None)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def dumps(nb):
    # nbformat.v4.nbjson.JSONWriter's settings
    return json.dumps(nb, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv
    files = [a for a in argv if a != "--check"] or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
    dirty = []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
            nb = json.loads(text)
        except (OSError, ValueError) as e:
            print("strip_outputs.py: cannot read %s: %s" % (f, e), file=sys.stderr)
            return 2
        new = dumps(strip(nb))
        if new == text:
            continue
        dirty.append(f)
        if not check:
            tmp = "%s.tmp-%d" % (f, os.getpid())
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(new)
            os.replace(tmp, f)
            print("strip_outputs.py: stripped %s" % os.path.relpath(f, os.getcwd()))
    if check and dirty:
        print("strip_outputs.py: outputs present in: %s (run kernel-setup/strip_outputs.py)" % ", ".join(dirty), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
