"""The size of an 8-bit RGB PNG, after checking that its pixels decode (the
integration tests' independent check of the PNGs the service writes)."""
import struct
import zlib


def png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)  # decodes, or raises
    w, h = size
    assert len(raw) == h * (1 + 3 * w), f"{path}: {len(raw)} bytes of scanlines for {w}x{h} RGB"
    return size
