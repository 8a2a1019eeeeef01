"""Small photos made with Pillow, structured (gradient + noise), deterministic, in any mode: the
tests' and the benchmark's (bench/payload.py scales them up to 1-5 megapixels)."""

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def photo(width=64, height=48, mode="RGB", seed=0) -> Image.Image:
    """A small photo-like image: a lit gradient with shapes and grain, converted to MODE."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height)).rotate(rng.uniform(0, 360))
    gains = [rng.uniform(0.4, 1.0) for _ in range(3)]
    colour = Image.merge("RGB", [base.point(lambda v, k=k: int(v * k) + 20) for k in gains])
    draw = ImageDraw.Draw(colour)
    for _ in range(4):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(3, max(4, width // 4))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    # Grain from RNG, not Image.effect_noise (C's rand(), unseeded): the same seed, the same photo.
    # Uniform bytes, scaled to the spread of a Gaussian grain of sigma 40 (uniform's is 74).
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    noise = noise.point(lambda v: 128 + (v - 128) * 40 // 74).convert("RGB")
    colour = Image.blend(colour, noise, 0.15).filter(ImageFilter.SMOOTH)
    if mode == "RGB":
        return colour
    if mode == "I;16":
        grey = colour.convert("L")
        wide = Image.new("I;16", grey.size)
        wide.putdata([v * 257 + (i % 200) for i, v in enumerate(grey.getdata())])
        return wide
    return colour.convert(mode)


def encode(image: Image.Image, fmt="JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width=64, height=48, mode="RGB", seed=0, **options) -> bytes:
    return encode(photo(width, height, mode, seed), "JPEG", quality=90, **options)
