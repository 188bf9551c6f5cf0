"""How many images are resized at a time when a dataset is uploaded to the device.

Its own module, below both users: :func:`genbench.data.sampler.upload` resizes in
chunks of this size (torch), and ``InMemoryImages.device_bytes`` counts one chunk's
working memory before any data is read (no torch).
"""

from __future__ import annotations

# Images resized at a time: at most 2048, and at most 256 MiB of float32 output, so
# the working memory stays bounded at any --image-size (2048 images at 1024x1024
# would be 8 GiB of floats).
RESIZE_CHUNK, RESIZE_BYTES = 2048, 256 << 20


def resize_chunk(channels: int, side: int) -> int:
    """How many images :func:`genbench.data.sampler.upload` resizes at a time."""
    return max(1, min(RESIZE_CHUNK, RESIZE_BYTES // (4 * channels * side * side)))
