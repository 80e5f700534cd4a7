# An nbdkit python plugin playing the host in the NBD store's tests (tests/nbd_store_test.cpp):
# it serves an image file, and a test makes it misbehave as a faulty or hostile host would.
#
#   nbdkit python tests/nbd/host_plugin.py file=IMAGE [control=DIR] [flush=no]
#          [writeback=yes] [die-after-writes=N]
#
# file=IMAGE          the image file served (its size is the export's)
# flush=no            the server offers no FLUSH
# writeback=yes       writes are held in this process's memory until a FLUSH writes them to the
#                     file (a host with a volatile write cache: a crash loses them)
# die-after-writes=N  the process ends abruptly (os._exit) on the Nth write, before storing it
# control=DIR         files created in DIR while the server runs change what it does next:
#   fail-flush        every FLUSH fails with EIO
#   flip-reads        every block read has one bit flipped
#   stale             reads are served from DIR/stale.img (an older copy of the image) instead
#   stale-data        the same for blocks 3 and on only: the newest header and superblocks over
#                     older data
import builtins
import errno
import os
import sys

import nbdkit

API_VERSION = 2
BLOCK = 4096

image = None
control = None
offer_flush = True
writeback = False
die_after = 0
writes_seen = 0
pending = {}  # block number -> bytes, writeback=yes only


def config(key, value):
    global image, control, offer_flush, writeback, die_after
    if key == "file":
        image = value
    elif key == "control":
        control = value
    elif key == "flush":
        offer_flush = value != "no"
    elif key == "writeback":
        writeback = value == "yes"
    elif key == "die-after-writes":
        die_after = int(value)
    else:
        raise RuntimeError("unknown parameter " + key)


def config_complete():
    if image is None:
        raise RuntimeError("file=IMAGE is required")


def thread_model():
    return nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS


def controlled(name):
    return control is not None and os.path.exists(os.path.join(control, name))


def open(readonly):
    return {"readonly": readonly}


def get_size(h):
    return os.path.getsize(image)


def can_write(h):
    return True


def can_flush(h):
    return offer_flush


def read_range(path, count, offset):
    with builtins.open(path, "rb") as f:  # open() here is the plugin's callback
        f.seek(offset)
        return bytearray(f.read(count))


def pread(h, buf, offset, flags):
    data = read_range(image, len(buf), offset)
    old = None
    if controlled("stale") or controlled("stale-data"):
        old = read_range(os.path.join(control, "stale.img"), len(buf), offset)
    for i in range(0, len(buf), BLOCK):
        block = (offset + i) // BLOCK
        if block in pending:
            data[i:i + BLOCK] = pending[block]
        if old is not None and (controlled("stale") or block >= 3):
            data[i:i + BLOCK] = old[i:i + BLOCK]
        if controlled("flip-reads"):
            data[i + 100] ^= 0x01
    buf[:] = data


def store(offset, data):
    fd = os.open(image, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def pwrite(h, buf, offset, flags):
    global writes_seen
    writes_seen += 1
    if os.environ.get("VDISK_HOST_PLUGIN_LOG"):
        print("pwrite #%d offset %d len %d" % (writes_seen, offset, len(buf)), file=sys.stderr, flush=True)
    if die_after and writes_seen >= die_after:
        os._exit(1)
    data = bytes(buf)
    if writeback:
        for i in range(0, len(data), BLOCK):
            pending[(offset + i) // BLOCK] = data[i:i + BLOCK]
    else:
        store(offset, data)


def flush(h, flags):
    if controlled("fail-flush"):
        nbdkit.set_error(errno.EIO)
        raise RuntimeError("flush failed (control file fail-flush)")
    for block in sorted(pending):
        store(block * BLOCK, pending[block])
    pending.clear()
    fd = os.open(image, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
