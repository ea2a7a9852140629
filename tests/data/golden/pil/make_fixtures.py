#!/usr/bin/python3
"""Writes the PIL reference images that tests/imaging_test.cc compares against.

Run with Debian's python3-pil (Pillow 9.4, linked to libjpeg62-turbo):
    /usr/bin/python3 tests/data/golden/pil/make_fixtures.py tests/data/golden/pil
Every output is a PNG (lossless), so the test reads the exact uint8 values PIL produced.
"""
import sys
import numpy as np
from PIL import Image

out = sys.argv[1]
rng = np.random.default_rng(7)
h, w = 37, 53
y, x = np.mgrid[0:h, 0:w]
base = np.stack([(x * 255 // (w - 1)), (y * 255 // (h - 1)), ((x + y) * 7) % 256], axis=-1)
noise = rng.integers(-40, 41, size=(h, w, 3))
src = np.clip(base + noise, 0, 255).astype(np.uint8)
# Hard edges, where over/undershoot of the cubic filter and the uint8 clipping show.
src[10:20, 5:15] = (255, 0, 0)
src[25:30, 30:50] = (0, 0, 0)
source = Image.fromarray(src, "RGB")
source.save(f"{out}/source.png")

sizes = [(20, 14), (16, 11), (80, 60), (53, 20), (30, 37), (7, 90), (1, 1), (106, 74)]
for name, flt in [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)]:
    for (tw, th) in sizes:
        source.resize((tw, th), flt).save(f"{out}/{name}_{tw}x{th}.png")

# JPEG decoding: what PIL's Image.open(...).convert("RGB") returns.
source.save(f"{out}/photo.jpg", quality=90)
Image.open(f"{out}/photo.jpg").convert("RGB").save(f"{out}/photo_decoded.png")
source.save(f"{out}/photo_progressive_444.jpg", quality=85, progressive=True, subsampling=0)
Image.open(f"{out}/photo_progressive_444.jpg").convert("RGB").save(f"{out}/photo_progressive_444_decoded.png")
source.convert("L").save(f"{out}/gray.jpg", quality=90)
Image.open(f"{out}/gray.jpg").convert("RGB").save(f"{out}/gray_decoded.png")
source.convert("CMYK").save(f"{out}/cmyk.jpg", quality=95)
Image.open(f"{out}/cmyk.jpg").convert("RGB").save(f"{out}/cmyk_decoded.png")
# PNG conversions: palette with transparency, gray+alpha, RGBA, 16-bit RGB.
source.quantize(16).save(f"{out}/palette.png", transparency=3)
Image.open(f"{out}/palette.png").convert("RGB").save(f"{out}/palette_decoded.png")
source.convert("LA").save(f"{out}/gray_alpha.png")
Image.open(f"{out}/gray_alpha.png").convert("RGB").save(f"{out}/gray_alpha_decoded.png")
rgba = source.copy(); rgba.putalpha(Image.fromarray((src[..., 0] // 2).astype(np.uint8), "L"))
rgba.save(f"{out}/rgba.png")
Image.open(f"{out}/rgba.png").convert("RGB").save(f"{out}/rgba_decoded.png")

# The reference SDXL chain on a PIL image: Resize(24, BILINEAR) (shorter side),
# CenterCrop(24), and the crop offset torchvision uses.
resized = source.resize((int(24 * w / h), 24), Image.BILINEAR)
top = int(round((resized.height - 24) / 2.0)); left = int(round((resized.width - 24) / 2.0))
resized.crop((left, top, left + 24, top + 24)).save(f"{out}/chain_resize24_center_crop.png")
print("left", left, "top", top, "resized", resized.size)
