"""Which files are worth keeping on a ticket message.

Mail-style signatures and chat clients add small decorative images (logos,
`image001.png`, 1x1 tracking pixels) that clutter a ticket and hold nothing a
consultant needs. The rule: keep every non-image file; drop an image when it is a
tracking pixel (either side at most 2 px), when it is inline and small (under
MIN_INLINE_BYTES or both sides at most MAX_ICON_PX), or when its name looks like a
signature image (image001.png, logo.png, signature.jpg) and it is small.
"""

from __future__ import annotations

import re

from bot.types import FileRef

MIN_INLINE_BYTES = 16 * 1024
MAX_ICON_PX = 128
SIGNATURE_NAME = re.compile(r"^(image\d{3}|logo[\w-]*|signature[\w-]*|outlook-\w+)\.(png|jpe?g|gif|bmp)$", re.I)
MAX_FILE_BYTES = 25 * 1024 * 1024  # what the adapters fetch; larger files keep only their metadata


def is_image(f: FileRef) -> bool:
    return bool((f.mimetype or "").startswith("image/")) or bool(
        re.search(r"\.(png|jpe?g|gif|bmp|webp)$", f.name, re.I)
    )


def keep_file(f: FileRef) -> bool:
    if not is_image(f):
        return True
    if (f.width is not None and f.width <= 2) or (f.height is not None and f.height <= 2):
        return False
    small = f.size is not None and f.size < MIN_INLINE_BYTES
    icon = f.width is not None and f.height is not None and f.width <= MAX_ICON_PX and f.height <= MAX_ICON_PX
    if f.inline and (small or icon):
        return False
    return not (SIGNATURE_NAME.match(f.name) and (small or icon))
