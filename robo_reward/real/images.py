"""Image payloads of sensor_msgs/Image and CompressedImage ⇄ (H, W, 3) uint8 RGB arrays; no ROS.

The functions take and return the message *fields*, so they are tested without rclpy and reused by
the rosbag2 tools. Anything that cannot become a valid RGB frame raises `MalformedImage`, which the
camera_sync node logs and drops without stopping.
"""

from __future__ import annotations

import numpy as np

from robo_reward.real.inputs import BadInput

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3}
ENCODINGS = tuple(CHANNELS)


class MalformedImage(BadInput):
    """An image message that does not describe a usable frame (size, encoding, buffer)."""

    kind = "malformed_image"


def decode_image(
    encoding: str,
    height: int,
    width: int,
    step: int,
    data: bytes | bytearray | memoryview | np.ndarray,
    expected_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """sensor_msgs/Image fields → (H, W, 3) uint8 RGB (mono is replicated, alpha dropped).

    `step` may exceed width·channels (row padding). `expected_hw`: the size this camera must have.
    """
    if encoding not in CHANNELS:
        raise MalformedImage(f"unknown encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")
    if height <= 0 or width <= 0:
        raise MalformedImage(f"empty image {height}x{width}")
    if expected_hw is not None and (height, width) != tuple(expected_hw):
        raise MalformedImage(
            f"image is {height}x{width}, this camera is configured as {expected_hw[0]}x{expected_hw[1]}"
        )
    c = CHANNELS[encoding]
    row = width * c
    if step < row:
        raise MalformedImage(f"step {step} is smaller than width*channels = {row}")
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buf.size != step * height:
        raise MalformedImage(f"data holds {buf.size} bytes, expected step*height = {step * height}")
    img = buf.reshape(height, step)[:, :row].reshape(height, width, c)
    if c == 1:
        return np.repeat(img, 3, axis=2)
    if encoding.startswith("bgr"):
        img = img[..., 2::-1]
    return np.ascontiguousarray(img[..., :3])


def encode_image(image: np.ndarray, encoding: str = "rgb8") -> tuple[str, int, int, int, bytes]:
    """(H, W, 3) uint8 RGB → (encoding, height, width, step, data) for a sensor_msgs/Image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    if encoding == "rgb8":
        out = image
    elif encoding == "bgr8":
        out = image[..., ::-1]
    elif encoding == "mono8":
        out = (
            (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)
        )
        out = out[..., None]
    else:
        raise ValueError(f"cannot encode {encoding!r}; use rgb8, bgr8 or mono8")
    h, w, c = out.shape
    return encoding, h, w, w * c, np.ascontiguousarray(out).tobytes()


def decode_compressed(
    fmt: str, data: bytes | bytearray | memoryview, expected_hw: tuple[int, int] | None = None
) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png, as image_transport writes them) → (H, W, 3) RGB."""
    import cv2

    kind = fmt.split(";")[-1].strip().split(" ")[0].lower() if fmt else ""
    if kind and kind not in ("jpeg", "jpg", "png"):
        raise MalformedImage(f"unknown compressed format {fmt!r}; supported: jpeg, png")
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR) if arr.size else None
    if img is None:
        raise MalformedImage(f"could not decode {arr.size} bytes of compressed {fmt or 'image'}")
    if expected_hw is not None and img.shape[:2] != tuple(expected_hw):
        raise MalformedImage(
            f"image is {img.shape[0]}x{img.shape[1]}, this camera is configured as {expected_hw[0]}x{expected_hw[1]}"
        )
    return np.ascontiguousarray(img[..., ::-1])


def encode_compressed(image: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> tuple[str, bytes]:
    """(H, W, 3) RGB → (format, data) for a sensor_msgs/CompressedImage."""
    import cv2

    ext = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}[fmt]
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(image[..., ::-1]), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {fmt}")
    return f"rgb8; {fmt} compressed bgr8", buf.tobytes()
