import numpy as np
import pytest

from robo_reward.real.images import (
    MalformedImage,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
)


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_color_round_trip(rgb, encoding):
    enc, h, w, step, data = encode_image(rgb, encoding)
    assert (enc, h, w, step) == (encoding, 6, 5, 15)
    np.testing.assert_array_equal(decode_image(enc, h, w, step, data), rgb)


def test_bgr_is_channel_swapped(rgb):
    data = np.ascontiguousarray(rgb[..., ::-1]).tobytes()
    np.testing.assert_array_equal(decode_image("bgr8", 6, 5, 15, data), rgb)


def test_mono_replicated_and_padded_rows():
    mono = np.arange(12, dtype=np.uint8).reshape(3, 4)
    padded = np.zeros((3, 8), np.uint8)  # step 8 > width 4: row padding is skipped
    padded[:, :4] = mono
    out = decode_image("mono8", 3, 4, 8, padded.tobytes())
    assert out.shape == (3, 4, 3)
    np.testing.assert_array_equal(out[..., 0], mono)
    np.testing.assert_array_equal(out[..., 2], mono)


def test_alpha_dropped(rgb):
    rgba = np.concatenate([rgb, np.full((6, 5, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_image("rgba8", 6, 5, 20, rgba.tobytes()), rgb)
    bgra = np.concatenate([rgb[..., ::-1], np.full((6, 5, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_image("bgra8", 6, 5, 20, bgra.tobytes()), rgb)


@pytest.mark.parametrize(
    "fields, match",
    [
        (("yuv422", 6, 5, 10, b"\0" * 60), "unknown encoding"),
        (("rgb8", 6, 5, 15, b"\0" * 20), "holds 20 bytes"),
        (("rgb8", 6, 5, 10, b"\0" * 60), "step 10 is smaller"),
        (("rgb8", 0, 5, 15, b""), "empty image"),
    ],
)
def test_malformed(fields, match):
    with pytest.raises(MalformedImage, match=match):
        decode_image(*fields)


def test_wrong_size_for_camera(rgb):
    enc, h, w, step, data = encode_image(rgb)
    with pytest.raises(MalformedImage, match="configured as 96x96"):
        decode_image(enc, h, w, step, data, expected_hw=(96, 96))


def test_mono_encode_is_grey(rgb):
    enc, h, w, step, data = encode_image(rgb, "mono8")
    assert step == 5 and len(data) == 30


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_round_trip(fmt):
    img = np.zeros((32, 48, 3), np.uint8)
    img[:, :24] = (200, 30, 10)  # left half red: checks channel order survives BGR codecs
    form, data = encode_compressed(img, fmt)
    out = decode_compressed(form, data, expected_hw=(32, 48))
    if fmt == "png":
        np.testing.assert_array_equal(out, img)
    else:  # lossy, and chroma is subsampled at the edge: compare the halves' interiors
        np.testing.assert_allclose(out[:, 4:16].mean(axis=(0, 1)), (200, 30, 10), atol=6)
        np.testing.assert_allclose(out[:, 32:44].mean(axis=(0, 1)), (0, 0, 0), atol=6)
    with pytest.raises(MalformedImage, match="configured as"):
        decode_compressed(form, data, expected_hw=(10, 10))


def test_compressed_garbage():
    with pytest.raises(MalformedImage, match="could not decode"):
        decode_compressed("jpeg", b"not an image")
    with pytest.raises(MalformedImage, match="unknown compressed format"):
        decode_compressed("tiff", b"\0")
