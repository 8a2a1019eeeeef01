"""The tests' and the benchmark's synthetic photos (photodemo.images): sized, in the mode asked,
the same for the same seed, photo-like rather than flat."""

import io

import pytest
from PIL import Image, ImageStat

from photodemo import images


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK", "I;16"])
def test_a_photo_of_the_size_and_mode_asked(mode):
    photo = images.photo(40, 30, mode)
    assert (photo.size, photo.mode) == ((40, 30), mode)


def test_the_same_seed_gives_the_same_photo_another_seed_another():
    assert images.jpeg(seed=3) == images.jpeg(seed=3)
    assert images.jpeg(seed=3) != images.jpeg(seed=4)


def test_a_jpeg_decodes_to_a_photo_with_light_and_shade():
    with Image.open(io.BytesIO(images.jpeg(64, 48, "L"))) as decoded:
        assert (decoded.format, decoded.size, decoded.mode) == ("JPEG", (64, 48), "L")
        assert ImageStat.Stat(decoded).stddev[0] > 10  # not a flat image
