#!/usr/bin/env python3
"""Writes tests/data/golden/tiny-openclip/: tiny-clip-vision's clip/ weights renamed into
open_clip's state-dict layout (what HPSv2's checkpoint holds), so that the C++ converter
(align-worker convert-openclip) can be tested against the fixture's clip.* outputs.

open_clip's names: q/k/v fused into attn.in_proj_weight / in_proj_bias (rows q, k, v),
text_projection and visual.proj stored as [width, embed_dim] matrices (x @ proj, the
transpose of transformers' Linear weight). Standard library only:
    python3 tests/data/make_tiny_openclip.py
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(ROOT, "golden", "tiny-clip-vision", "clip")
OUT = os.path.join(ROOT, "golden", "tiny-openclip")


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], raw[8 + n + begin:8 + n + end])
    return tensors


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def transpose(tensor):
    dtype, (rows, cols), data = tensor
    assert dtype == "F32"
    values = struct.unpack("<%df" % (rows * cols), data)
    out = [values[r * cols + c] for c in range(cols) for r in range(rows)]
    return dtype, [cols, rows], struct.pack("<%df" % len(out), *out)


def layers(tensors, hf, oc, out):
    n = 0
    while hf + "encoder.layers.%d.layer_norm1.weight" % n in tensors:
        s, d = hf + "encoder.layers.%d." % n, oc + "transformer.resblocks.%d." % n
        for p in ("weight", "bias"):
            out[d + "ln_1." + p] = tensors[s + "layer_norm1." + p]
            out[d + "ln_2." + p] = tensors[s + "layer_norm2." + p]
            out[d + "attn.out_proj." + p] = tensors[s + "self_attn.out_proj." + p]
            out[d + "mlp.c_fc." + p] = tensors[s + "mlp.fc1." + p]
            out[d + "mlp.c_proj." + p] = tensors[s + "mlp.fc2." + p]
        out[d + "attn.in_proj_weight"] = _fuse_param(tensors, s + "self_attn.", "weight")
        out[d + "attn.in_proj_bias"] = _fuse_param(tensors, s + "self_attn.", "bias")
        n += 1
    return n


def _fuse_param(tensors, prefix, param):
    q, k, v = (tensors["%s%s.%s" % (prefix, p, param)] for p in ("q_proj", "k_proj", "v_proj"))
    return q[0], [3 * q[1][0]] + q[1][1:], q[2] + k[2] + v[2]


def main():
    t = read_safetensors(os.path.join(SRC, "model.safetensors"))
    config = json.load(open(os.path.join(SRC, "config.json")))
    out = {}
    out["token_embedding.weight"] = t["text_model.embeddings.token_embedding.weight"]
    out["positional_embedding"] = t["text_model.embeddings.position_embedding.weight"]
    text_layers = layers(t, "text_model.", "", out)
    for p in ("weight", "bias"):
        out["ln_final." + p] = t["text_model.final_layer_norm." + p]
        out["visual.ln_pre." + p] = t["vision_model.pre_layrnorm." + p]
        out["visual.ln_post." + p] = t["vision_model.post_layernorm." + p]
    out["text_projection"] = transpose(t["text_projection.weight"])
    out["logit_scale"] = t["logit_scale"]
    out["visual.conv1.weight"] = t["vision_model.embeddings.patch_embedding.weight"]
    out["visual.class_embedding"] = t["vision_model.embeddings.class_embedding"]
    out["visual.positional_embedding"] = t["vision_model.embeddings.position_embedding.weight"]
    vision_layers = layers(t, "vision_model.", "visual.", out)
    out["visual.proj"] = transpose(t["visual_projection.weight"])

    text, vision = config["text_config"], config["vision_config"]
    assert text["hidden_act"] == vision["hidden_act"] == "quick_gelu"
    open_clip_config = {
        "embed_dim": config["projection_dim"],
        "quick_gelu": True,
        "vision_cfg": {
            "image_size": vision["image_size"], "layers": vision_layers, "width": vision["hidden_size"],
            "head_width": vision["hidden_size"] // vision["num_attention_heads"],
            "patch_size": vision["patch_size"], "mlp_ratio": vision["intermediate_size"] / vision["hidden_size"],
        },
        "text_cfg": {
            "context_length": text["max_position_embeddings"], "vocab_size": text["vocab_size"],
            "width": text["hidden_size"], "heads": text["num_attention_heads"], "layers": text_layers,
            "mlp_ratio": text["intermediate_size"] / text["hidden_size"],
        },
    }
    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "open_clip_model.safetensors"), out)
    with open(os.path.join(OUT, "open_clip_config.json"), "w") as f:
        json.dump(open_clip_config, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
