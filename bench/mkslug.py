#!/usr/bin/env python3
"""Makes a slug of about the given gzipped size that holds what an application's does: ./app
with many small text files in nested directories (2-8 kB of base64, 40 a directory, as sources,
gems and node modules) and 1 MB binaries of random bytes, 3/4 of the gzipped size in binaries.
The same seed gives the same slug.

    bench/mkslug.py OUT.tgz TARGET_BYTES
"""
import base64
import os
import random
import shutil
import subprocess
import sys
import tempfile


def make_tree(app, target):
    rnd = random.Random(42)
    text = target // 4 * 4 // 3  # base64 text gzips to about 3/4
    done, n = 0, 0
    while done < text:
        d = os.path.join(app, "lib", "m%d" % (n // 40), "src")
        os.makedirs(d, exist_ok=True)
        size = rnd.randint(2048, 8192)
        with open(os.path.join(d, "f%d.rb" % n), "w") as f:
            f.write(base64.encodebytes(rnd.randbytes(size * 3 // 4)).decode())
        done, n = done + size, n + 1
    os.makedirs(os.path.join(app, "bin"))
    for i in range(max(1, target * 3 // 4 // (1 << 20))):
        with open(os.path.join(app, "bin", "b%d" % i), "wb") as f:
            f.write(rnd.randbytes(min(1 << 20, target * 3 // 4)))


def main():
    out, target = sys.argv[1], int(sys.argv[2])
    root = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(out)))
    try:
        make_tree(os.path.join(root, "app"), target)
        subprocess.run(["tar", "-C", root, "-czf", out, "./app"], check=True)
    finally:
        shutil.rmtree(root)


main()
