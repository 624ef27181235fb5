#!/usr/bin/python3
"""Execute nnunet-ts notebooks headlessly with nbclient and the project's tslab kernel.

    /usr/bin/python3 kernel-setup/run_notebooks.py [NOTEBOOK.ipynb ...] [--full] [--timeout S] [--no-html] [--twice]
                                                   [--no-screenshots]

- Default: every notebooks/*.ipynb, in name order.
- Sets NNUNET_NOTEBOOK_SHORT=1 for the kernel (notebooks use a short schedule); --full leaves it unset.
- Builds the SDK first (kernel-setup/build_sdk.sh), so notebooks `import { ... } from "nnunet-ts"` like a user.
- The working directory of every kernel is the repo root (nbclient's metadata path, and tslab_kernel.sh cds there).
- Writes notebooks/out/NAME.ipynb (executed) and notebooks/out/NAME.html (nbconvert HTML export), also for a notebook
  that failed (executed up to the failing cell), atomically. notebooks/out/ is git-ignored.
- Screenshots: after the (first) run, kernel-setup/screenshot_notebooks.ts opens every exported NAME.html in
  headless Chromium (one browser, file:// only), waits for plotly to draw each figure and writes one PNG per figure
  output to notebooks/out/screenshots/NAME/figNN.png with an index (index.html, index.md, index.json: notebook, cell,
  title). A figure plotly did not draw fails the run. No Chromium: the run stops before executing anything and says
  how to install it; --no-screenshots skips the step (--no-html too). Not repeated by --twice's re-run.
- Exit status 1 if any cell of any notebook raised (a TypeScript type error in a cell counts) or timed out.
- --twice: run every notebook a second time (into <out>/rerun/), as a user re-running it would, and check the
  caching promise: the second run is at least 5x faster in total, and every cell's outputs are the same once
  timings and live progress rows are masked (compare_outputs below). Exit status 1 otherwise. For a meaningful first
  run, start without cached work (a fresh clone, or NNUNET_WORK pointing at an empty folder).
Needs Debian's python3 (or any python with nbclient, nbformat, nbconvert): run kernel-setup/install.sh first.
"""
import argparse
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_atomic(path, text):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cell_stderr(nb):
    """tslab reports type errors and exceptions on stderr with an empty error reply: show that text."""
    last = [c for c in nb.cells if c.cell_type == "code" and c.get("outputs")]
    if not last:
        return ""
    lines = []
    for o in last[-1].outputs:
        if o.get("output_type") == "stream" and o.get("name") == "stderr":
            lines.append(o.get("text", ""))
        elif o.get("output_type") == "error":
            lines.append("\n".join(o.get("traceback", [])))
    return ("\n--- cell stderr ---\n" + "".join(lines)) if lines else ""


import json
import re

# what legitimately differs between two runs of the same cell: wall-clock durations, timestamps, live progress rows
_MASKS = [
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|s|sec|seconds|min|m|h)\b"), "<dur>"),
    (re.compile(r"\b\d+m\d+(\.\d+)?s\b"), "<dur>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(it|batch(es)?|case(s)?)/s\b"), "<rate>"),
    (re.compile(r"nnunet-ts-fig-[A-Za-z0-9-]+"), "nnunet-ts-fig-<id>"),  # DOM ids of figure divs, unique per display
]


def _mask(text):
    for rx, rep in _MASKS:
        text = rx.sub(rep, text)
    return text


def _timing_keys(obj):
    """Plotly/JSON payloads: drop fields that are wall-clock measurements (epoch_time, seconds, timestamps)."""
    if isinstance(obj, dict):
        return {k: _timing_keys(v) for k, v in obj.items() if not re.search(r"time|seconds|_s$|timestamp|elapsed", k)}
    if isinstance(obj, list):
        return [_timing_keys(v) for v in obj]
    if isinstance(obj, str):
        return _mask(obj)
    return obj


def cell_signature(cell):
    """The outputs of a code cell as comparable text (progress displays and timings masked)."""
    sig = []
    for o in cell.get("outputs", []):
        t = o.get("output_type")
        if t == "stream":
            sig.append(("stream", o.get("name"), _mask(o.get("text", ""))))
        elif t in ("display_data", "execute_result"):
            data = o.get("data", {})
            html = data.get("text/html", "")
            if "nnunet-progress" in html:
                continue  # live progress rows: what ran this time, not a result
            if "nnunet-live-state" in json.dumps(data):
                continue  # a figure of a live state (graph_figure.ts liveState: a job graph before its run)
            for mime in sorted(data):
                v = data[mime]
                if mime.startswith("image/"):
                    v = "<%s %d bytes>" % (mime, len(v))  # raster exports are checked through their source data
                elif isinstance(v, (dict, list)):
                    v = json.dumps(_timing_keys(v), sort_keys=True)
                else:
                    v = _mask(v if isinstance(v, str) else "".join(v))
                sig.append((t, mime, v))
        elif t == "error":
            sig.append(("error", o.get("ename"), o.get("evalue")))
    return sig


def compare_outputs(nb1, nb2):
    """Cells whose outputs differ between two executions of the same notebook: [(cell index, first, second)]."""
    diffs = []
    cells1 = [c for c in nb1.cells if c.cell_type == "code"]
    cells2 = [c for c in nb2.cells if c.cell_type == "code"]
    for i, (a, b) in enumerate(zip(cells1, cells2)):
        sa, sb = cell_signature(a), cell_signature(b)
        if sa != sb:
            diffs.append((i, sa, sb))
    return diffs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/*.ipynb)")
    ap.add_argument("--out", default=os.path.join(ROOT, "notebooks", "out"), help="output folder")
    ap.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds (default 3600)")
    ap.add_argument("--full", action="store_true", help="do not set NNUNET_NOTEBOOK_SHORT=1")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML export")
    ap.add_argument("--no-build", action="store_true", help="skip kernel-setup/build_sdk.sh")
    ap.add_argument("--kernel", default="tslab", help="kernel name (default tslab)")
    ap.add_argument("--no-screenshots", action="store_true", help="skip the Chromium screenshots of the figures")
    ap.add_argument("--twice", action="store_true", help="run again and check the re-run is >= 5x faster with the same outputs")
    args = ap.parse_args(argv)

    # Environment for nbclient and the kernels it starts (they inherit os.environ). Set before jupyter_client reads it.
    jpath = os.path.join(ROOT, ".jupyter", "share", "jupyter")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([jpath] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
    os.environ.setdefault("JUPYTER_RUNTIME_DIR", os.path.join(ROOT, ".jupyter", "runtime"))  # connection files, not ~
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if args.full:
        os.environ.pop("NNUNET_NOTEBOOK_SHORT", None)
    else:
        os.environ["NNUNET_NOTEBOOK_SHORT"] = "1"

    spec = os.path.join(jpath, "kernels", args.kernel, "kernel.json")
    if not os.path.isfile(spec):
        sys.exit("run_notebooks.py: no kernel spec %s; run kernel-setup/install.sh first" % spec)
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as e:
        sys.exit("run_notebooks.py: %s in %s; run with Debian's /usr/bin/python3 (kernel-setup/install.sh)" % (e, sys.executable))

    paths = [os.path.abspath(p) for p in args.notebooks] or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
    if not paths:
        print("run_notebooks.py: no notebooks/*.ipynb to run")
        return 0
    for p in paths:
        if not os.path.isfile(p):
            sys.exit("run_notebooks.py: %s does not exist" % p)

    screenshots = not (args.no_screenshots or args.no_html)
    if screenshots:
        chromium = os.environ.get("NNUNET_CHROMIUM", "/usr/bin/chromium")
        if not os.path.isfile(chromium):
            sys.exit("run_notebooks.py: no Chromium at %s for the figure screenshots; install it (kernel-setup/install.sh, "
                     "or apt-get install -y chromium), set NNUNET_CHROMIUM=/path/to/chrome, or pass --no-screenshots" % chromium)

    if not args.no_build:
        subprocess.run([os.path.join(ROOT, "kernel-setup", "build_sdk.sh")], check=True, cwd=ROOT)

    os.makedirs(args.out, exist_ok=True)
    exporter = None
    if not args.no_html:
        from nbconvert import HTMLExporter
        exporter = HTMLExporter()

    def run_all(out_dir):
        os.makedirs(out_dir, exist_ok=True)
        executed = {}
        results = []
        for p in paths:
            name = os.path.splitext(os.path.basename(p))[0]
            try:
                nb = nbformat.read(p, as_version=4)
            except Exception as e:  # unreadable JSON: name the file
                results.append((name, "FAILED", 0.0, "cannot read %s: %s" % (p, e)))
                continue
            ks = nb.metadata.get("kernelspec", {}).get("name")
            if ks and ks != args.kernel:
                print("run_notebooks.py: %s declares kernel %r; running it with %r" % (p, ks, args.kernel))
            client = NotebookClient(nb, kernel_name=args.kernel, timeout=args.timeout, allow_errors=False,
                                    record_timing=True, resources={"metadata": {"path": ROOT}})
            print("run_notebooks.py: running %s ..." % os.path.relpath(p, ROOT), flush=True)
            t0 = time.time()
            status, detail = "ok", ""
            try:
                client.execute()
            except CellExecutionError as e:
                status, detail = "FAILED", str(e).strip() + cell_stderr(nb)
            except Exception as e:  # timeout, dead kernel, kernel that never started
                status, detail = "FAILED", "%s: %s" % (type(e).__name__, e)
            dt = time.time() - t0
            out_nb = os.path.join(out_dir, name + ".ipynb")
            write_atomic(out_nb, nbformat.writes(nb))
            if exporter is not None:
                html, _ = exporter.from_notebook_node(nb)
                write_atomic(os.path.join(out_dir, name + ".html"), html)
            results.append((name, status, dt, detail))
            executed[name] = nb
            print("run_notebooks.py: %s %s in %.1f s -> %s" % (name, status, dt, os.path.relpath(out_nb, ROOT)), flush=True)
            if detail:
                print(detail, file=sys.stderr)
        return results, executed

    results, first = run_all(args.out)

    shots_ok, shots_s = True, 0.0
    if screenshots:
        # every notebook that has an HTML export, failed ones included (their figures up to the failing cell)
        print("run_notebooks.py: screenshots of the figures (headless Chromium) ...", flush=True)
        t0 = time.time()
        cmd = ["node", "-r", "ts-node/register/transpile-only", os.path.join(ROOT, "kernel-setup", "screenshot_notebooks.ts"),
               "--out", args.out] + [r[0] for r in results if os.path.isfile(os.path.join(args.out, r[0] + ".html"))]
        env = dict(os.environ, TS_NODE_TRANSPILE_ONLY="1")
        shots_ok = subprocess.run(cmd, cwd=ROOT, env=env).returncode == 0
        shots_s = time.time() - t0

    print("\n%-40s %-7s %9s" % ("notebook", "status", "seconds"))
    for name, status, dt, _ in results:
        print("%-40s %-7s %9.1f" % (name, status, dt))
    if screenshots:
        print("%-40s %-7s %9.1f  -> %s" % ("screenshots", "ok" if shots_ok else "FAILED", shots_s,
                                          os.path.relpath(os.path.join(args.out, "screenshots", "index.html"), ROOT)))
    failed = [r for r in results if r[1] != "ok"]
    if failed:
        print("run_notebooks.py: %d of %d notebooks failed: %s" % (len(failed), len(results), ", ".join(r[0] for r in failed)), file=sys.stderr)
        return 1
    if not shots_ok:
        print("run_notebooks.py: the figure screenshots failed (see screenshot_notebooks above); --no-screenshots skips them", file=sys.stderr)
        return 1
    if args.twice:
        print("\nrun_notebooks.py: second run (everything cached should be reused) ...", flush=True)
        again, second = run_all(os.path.join(args.out, "rerun"))
        print("\n%-40s %9s %9s %7s  %s" % ("notebook", "first s", "rerun s", "ratio", "outputs"))
        bad = []
        for (name, status, dt1, _), (_, status2, dt2, detail2) in zip(results, again):
            if status2 != "ok":
                bad.append("%s failed on the re-run: %s" % (name, detail2))
                print("%-40s %9.1f %9s %7s  %s" % (name, dt1, "FAILED", "", ""))
                continue
            diffs = compare_outputs(first[name], second[name])
            print("%-40s %9.1f %9.1f %6.1fx  %s" % (name, dt1, dt2, dt1 / max(dt2, 1e-9), "same" if not diffs else "%d cells differ" % len(diffs)))
            for i, a, b in diffs[:3]:
                print("    cell %d\n      first:  %s\n      re-run: %s" % (i, str(a)[:400], str(b)[:400]))
            if diffs:
                bad.append("%s: %d cells with other outputs on the re-run" % (name, len(diffs)))
        t1 = sum(r[2] for r in results)
        t2 = sum(r[2] for r in again)
        ratio = t1 / max(t2, 1e-9)
        print("%-40s %9.1f %9.1f %6.1fx  (target: >= 5x, same outputs)" % ("total", t1, t2, ratio))
        if ratio < 5:
            bad.append("the re-run took %.1f s, %.1fx faster than the first run (%.1f s); the target is 5x" % (t2, ratio, t1))
        if bad:
            print("run_notebooks.py: " + "; ".join(bad), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
