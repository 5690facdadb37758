"""Dataset sources. Each one returns an :class:`ImageDataset`, the one record format the studio uses."""

from xil.data.base import ImageDataset
from xil.data.decoy import add_decoys
from xil.data.digits import decoy_digits
from xil.data.image_folder import ImportReport, import_image_folder
from xil.data.mnist import decoy_mnist, read_idx

__all__ = [
    "ImageDataset",
    "ImportReport",
    "add_decoys",
    "decoy_digits",
    "decoy_mnist",
    "import_image_folder",
    "read_idx",
]
