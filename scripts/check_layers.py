#!/usr/bin/env python3
"""Checks that the source layers include only downward (docs/ARCHITECTURE.md):

    oram/  <-  vdisk/  <-  fs/  <-  tools/

A file in a layer may include headers of its own layer and of the layers to its left, and the
public headers (include/vdisk/: each belongs to the vdisk or the fs layer, listed below). Prints
each offending include as FILE:LINE: ... and exits 1; exits 0 when there is none.

    scripts/check_layers.py [SOURCE_ROOT]
"""
import pathlib
import re
import sys

LAYERS = ["oram", "vdisk", "fs", "tools"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


# The public headers (include/vdisk/) of the fs layer; every other public header is the vdisk
# layer's. A new public header must be named in one of the two sets.
PUBLIC_FS = {"fs.h", "fsck.h", "node_fs.h", "vdisk.h"}
PUBLIC_VDISK = {"block_store.h", "nbd_store.h", "crypto.h", "disk.h", "fault_store.h", "format.h", "keys.h", "keyslot.h",
                "status.h", "store_url.h", "trace_store.h"}


def layer_of_include(name, root):
    """The layer an #include "..." names, or None (third-party or local to the folder)."""
    parts = name.split("/")
    if parts[0] == "vdisk" and len(parts) == 2 and (root / "include" / name).exists():
        if parts[1] in PUBLIC_FS:
            return "fs"
        if parts[1] in PUBLIC_VDISK:
            return "vdisk"
        raise SystemExit(f"scripts/check_layers.py: classify include/{name} in PUBLIC_FS or PUBLIC_VDISK")
    return parts[0] if parts[0] in LAYERS else None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    bad = 0
    for rank, layer in enumerate(LAYERS):
        for path in sorted((root / layer).rglob("*")):
            if path.suffix not in {".cpp", ".h"}:
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = layer_of_include(m.group(1), root)
                if target is not None and LAYERS.index(target) > rank:
                    print(f"{path.relative_to(root)}:{number}: {layer}/ includes {m.group(1)} "
                          f"from the higher layer {target}/")
                    bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
