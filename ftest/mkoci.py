#!/usr/bin/env python3
"""Writes an OCI image layout, as a tar for `ctr image import`, of a one-layer busybox image:
oci-layout, index.json and blobs/sha256/ (the layer, the config and the manifest), made here
from a static busybox, with no registry and no network.
    ftest/mkoci.py BUSYBOX NAME OUT.tar
NAME is the image's name in containerd (io.containerd.image.name), e.g. docker.io/hsup/bb:1.
Everything in the tar has a fixed owner and time, so the same busybox gives the same digests."""
import hashlib
import io
import json
import platform
import subprocess
import sys
import tarfile

MTIME = 1700000000  # fixed: the same input makes the same blobs
# the host's architecture as OCI names it (the busybox is the host's)
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
    platform.machine(), platform.machine())


def add(tar, name, data=None, kind=tarfile.REGTYPE, mode=0o644, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, MTIME, target
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def layer(busybox):
    """The rootfs: /bin/busybox with a symbolic link per applet, the directories a runtime
    mounts on, and root in /etc/passwd."""
    binary = open(busybox, "rb").read()
    applets = subprocess.run([busybox, "--list"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "run"):
            add(tar, d, kind=tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
        add(tar, "bin/busybox", binary, mode=0o755)
        for a in sorted(set(applets) - {"busybox"}):
            add(tar, "bin/" + a, kind=tarfile.SYMTYPE, mode=0o777, target="busybox")
        add(tar, "etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")
        add(tar, "etc/group", b"root:x:0:\n")
    return buf.getvalue()


def blob(blobs, media_type, data, **extra):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return dict(mediaType=media_type, digest=digest, size=len(data), **extra)


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def main():
    busybox, name, out = sys.argv[1:4]
    blobs = {}
    tar_bytes = layer(busybox)
    layer_desc = blob(blobs, "application/vnd.oci.image.layer.v1.tar", tar_bytes)
    config = {"architecture": ARCH, "os": "linux", "created": "2023-11-14T22:13:20Z",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}}
    config_desc = blob(blobs, "application/vnd.oci.image.config.v1+json", dumps(config))
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = blob(blobs, "application/vnd.oci.image.manifest.v1+json", dumps(manifest),
                         platform={"architecture": ARCH, "os": "linux"},
                         annotations={"io.containerd.image.name": name,
                                      "org.opencontainers.image.ref.name":
                                          name.rsplit(":", 1)[-1]})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest_desc]}
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "oci-layout", dumps({"imageLayoutVersion": "1.0.0"}))
        add(tar, "index.json", dumps(index))
        add(tar, "blobs", kind=tarfile.DIRTYPE, mode=0o755)
        add(tar, "blobs/sha256", kind=tarfile.DIRTYPE, mode=0o755)
        for digest, data in blobs.items():
            add(tar, "blobs/sha256/" + digest.split(":", 1)[1], data)


if __name__ == "__main__":
    main()
