#!/usr/bin/python3
"""Execute nnunet-ts notebooks headlessly with nbclient and the project's tslab kernel.

    /usr/bin/python3 kernel-setup/run_notebooks.py [NOTEBOOK.ipynb ...] [--full] [--timeout S] [--no-html]

- Default: every notebooks/*.ipynb, in name order.
- Sets NNUNET_NOTEBOOK_SHORT=1 for the kernel (notebooks use a short schedule); --full leaves it unset.
- Builds the SDK first (kernel-setup/build_sdk.sh), so notebooks `import { ... } from "nnunet-ts"` like a user.
- The working directory of every kernel is the repo root (nbclient's metadata path, and tslab_kernel.sh cds there).
- Writes notebooks/out/NAME.ipynb (executed) and notebooks/out/NAME.html (nbconvert HTML export), also for a notebook
  that failed (executed up to the failing cell), atomically. notebooks/out/ is git-ignored.
- Exit status 1 if any cell of any notebook raised (a TypeScript type error in a cell counts) or timed out.
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/*.ipynb)")
    ap.add_argument("--out", default=os.path.join(ROOT, "notebooks", "out"), help="output folder")
    ap.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds (default 3600)")
    ap.add_argument("--full", action="store_true", help="do not set NNUNET_NOTEBOOK_SHORT=1")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML export")
    ap.add_argument("--no-build", action="store_true", help="skip kernel-setup/build_sdk.sh")
    ap.add_argument("--kernel", default="tslab", help="kernel name (default tslab)")
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

    if not args.no_build:
        subprocess.run([os.path.join(ROOT, "kernel-setup", "build_sdk.sh")], check=True, cwd=ROOT)

    os.makedirs(args.out, exist_ok=True)
    exporter = None
    if not args.no_html:
        from nbconvert import HTMLExporter
        exporter = HTMLExporter()

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
        out_nb = os.path.join(args.out, name + ".ipynb")
        write_atomic(out_nb, nbformat.writes(nb))
        if exporter is not None:
            html, _ = exporter.from_notebook_node(nb)
            write_atomic(os.path.join(args.out, name + ".html"), html)
        results.append((name, status, dt, detail))
        print("run_notebooks.py: %s %s in %.1f s -> %s" % (name, status, dt, os.path.relpath(out_nb, ROOT)), flush=True)
        if detail:
            print(detail, file=sys.stderr)

    print("\n%-40s %-7s %9s" % ("notebook", "status", "seconds"))
    for name, status, dt, _ in results:
        print("%-40s %-7s %9.1f" % (name, status, dt))
    failed = [r for r in results if r[1] != "ok"]
    if failed:
        print("run_notebooks.py: %d of %d notebooks failed: %s" % (len(failed), len(results), ", ".join(r[0] for r in failed)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
