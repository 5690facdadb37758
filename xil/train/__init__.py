"""Training loops: a config dataclass (stored on the job row) plus data in, a model and metrics out."""

from xil.train.config import TrainConfig
from xil.train.data import TrainData
from xil.train.evaluate import evaluate
from xil.train.loop import Cancelled, coarse_map, train

__all__ = ["Cancelled", "TrainConfig", "TrainData", "coarse_map", "evaluate", "train"]
