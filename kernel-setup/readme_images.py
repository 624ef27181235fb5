#!/usr/bin/python3
"""Copy the README's figures from the notebook runner's screenshots into docs/images/.

    /usr/bin/python3 kernel-setup/readme_images.py [--shots notebooks/out/screenshots]

Run after `npm run notebooks` (which writes notebooks/out/screenshots/index.json). Each README image is picked by
notebook and title (a regular expression on the figure's title), optionally cropped, and copied unchanged when it is
under MAX_BYTES, else scaled down with Pillow until it is. Prints one line per image with its notebook cell, the line the
README quotes ("What the notebooks show"). Any python3; Pillow only for images that are too large.
"""
import argparse
import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_BYTES = 200 * 1024

# (file in docs/images, notebook, title pattern: the first figure of that notebook whose title matches,
#  crop box (left, top, right, bottom) in pixels or None)
PICKS = [
    ("unet_3d_fullres.png", "03_planning", r"^3d_fullres: patch", None),
    ("patch_receptive_field.png", "03_planning", r"receptive field", None),
    # the gallery is 11 rows high: its first 5 (original, rotation, scaling, noise, blur) at full size
    ("augmentation_gallery.png", "05_training", r"^Augmentation gallery", (0, 0, 870, 780)),
    ("overlay_quickstart.png", "01_quickstart", r"held-out test case", None),
    ("cascade_step.png", "07_msd_lung_reproduction", r"^step 2:", None),
    ("dice_boxplot.png", "07_msd_lung_reproduction", r"Dice per case", None),
]


def crop(src, dst, box):
    from PIL import Image  # only needed to crop or shrink

    img = Image.open(src)
    img = img.crop((box[0], box[1], min(box[2], img.width), min(box[3], img.height)))
    img.save(dst, optimize=True)
    return img.size


def shrink(src, dst):
    from PIL import Image  # only needed to crop or shrink

    img = Image.open(src)
    scale = 0.9
    while True:
        small = img.resize((int(img.width * scale), int(img.height * scale)), Image.LANCZOS)
        small.save(dst, optimize=True)
        if os.path.getsize(dst) <= MAX_BYTES or scale < 0.3:
            return small.size
        scale *= 0.85


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", default=os.path.join(ROOT, "notebooks", "out", "screenshots"))
    ap.add_argument("--dest", default=os.path.join(ROOT, "docs", "images"))
    args = ap.parse_args(argv)
    index = os.path.join(args.shots, "index.json")
    if not os.path.isfile(index):
        sys.exit("readme_images.py: no %s; run `npm run notebooks` first" % index)
    shots = json.load(open(index, encoding="utf-8"))
    os.makedirs(args.dest, exist_ok=True)
    missing = []
    for name, notebook, pattern, box in PICKS:
        found = [s for s in shots if s["notebook"] == notebook and re.search(pattern, s["title"], re.I)]
        if not found:
            missing.append("%s: no figure of %s with a title matching /%s/" % (name, notebook, pattern))
            continue
        s = found[0]
        src = os.path.join(args.shots, s["file"])
        dst = os.path.join(args.dest, name)
        how = []
        if box:
            how.append("cropped to %dx%d" % crop(src, dst, box))
            src = dst
        if os.path.getsize(src) <= MAX_BYTES:
            if src != dst:
                shutil.copyfile(src, dst)
            how.append("%dx%d" % (s["width"], s["height"]) if not box else "")
        else:
            how.append("scaled to %dx%d" % shrink(src, dst))
        how = ", ".join(h for h in how if h) or "copied"
        print("%-28s %3d KB  %s cell %d (In [%s]): %s  [%s]" % (name, os.path.getsize(dst) // 1024, notebook, s["cell"], s["executionCount"], s["title"], how))
    if missing:
        print("readme_images.py: " + "; ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
