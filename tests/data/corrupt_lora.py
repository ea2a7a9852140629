#!/usr/bin/env python3
"""Copies a LoRA safetensors file with one up (B) matrix's values replaced by
0.05 each: a corrupted adapter that verify-model must reject.
Usage: corrupt_lora.py IN OUT"""
import json
import struct
import sys

data = bytearray(open(sys.argv[1], 'rb').read())
header_len = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + header_len])
name = sorted(k for k in header if k.endswith('lora.up.weight'))[0]
info = header[name]
assert info['dtype'] == 'F32', info
begin, end = (8 + header_len + o for o in info['data_offsets'])
data[begin:end] = struct.pack('<f', 0.05) * ((end - begin) // 4)
open(sys.argv[2], 'wb').write(bytes(data))
