"""Data-parallel training in several processes, launched by Hugging Face Accelerate (``accelerate
launch``; a worker does it for a job whose ``processes`` is above one, see ``xil/services/launch.py``).

Every process holds the whole model, starts from rank 0's weights and takes its share of each batch
(rows ``rank, rank + N, ...``); after each backward pass the gradients are averaged over the processes,
weighted by the rows each had (one all-reduce of a flat buffer), so a step sees what one process
would see with the whole batch. The model is not wrapped in ``DistributedDataParallel``: the feedback
methods run the model inside their loss, differentiate input gradients again (RRR) and read its layers
(RRR-G, HINT), which DDP's wrapper and hooks get in the way of; the all-reduce per step is what DDP
does, without overlapping it with the backward pass. Batch norm keeps per-process statistics.
"""

from __future__ import annotations

import os

import torch
from accelerate import PartialState
from accelerate.utils import broadcast, broadcast_object_list, reduce
from torch import Tensor, nn


class Processes:
    """The process group this process was launched in: its rank, their number, its device."""

    def __init__(self, state: PartialState) -> None:
        self.state = state
        self.rank, self.world = state.process_index, state.num_processes
        self.is_main = state.is_main_process
        self.device = str(state.device)

    def share(self, idx: Tensor) -> Tensor:
        """This process's rows of a batch."""
        return idx[self.rank :: self.world]

    def sync_parameters(self, model: nn.Module) -> None:
        """Every process starts from rank 0's weights and buffers."""
        for tensor in model.state_dict().values():
            tensor.copy_(broadcast(tensor.detach().clone(), from_process=0))

    def average_gradients(self, parameters: list[nn.Parameter], rows: int) -> None:
        """Replace each gradient by the row-weighted mean over the processes (a process with no rows in
        this batch contributes nothing)."""
        device = parameters[0].device
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat(
            [g.detach().float().flatten() * rows for g in grads] + [torch.tensor([float(rows)], device=device)]
        )
        flat = reduce(flat, "sum")
        total = flat[-1].clamp(min=1.0)
        offset = 0
        for p, g in zip(parameters, grads, strict=True):
            p.grad = (flat[offset : offset + g.numel()] / total).view_as(g).to(g.dtype)
            offset += g.numel()

    def from_first(self, value):
        """Process 0's ``value`` (any picklable object), on every process."""
        return broadcast_object_list([value], from_process=0)[0]

    def augmenter(self, seed: int) -> torch.Generator:
        """A generator of this process's own random augmentations (crops, counterexamples): its share
        of a batch differs from the others', so it must not draw from the shared shuffling generator."""
        return torch.Generator().manual_seed(seed + 1 + self.rank)

    def sum(self, tensor: Tensor) -> Tensor:
        return reduce(tensor.clone(), "sum")

    def mean(self, value: float) -> float:
        return float(reduce(torch.tensor([value], dtype=torch.float64, device=self.device), "mean"))

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one (a cancel seen by rank 0)."""
        return bool(self.sum(torch.tensor([float(flag)], device=self.device)) > 0)


MARKER = "XIL_PROCESSES_OF_JOB"  # set by the worker's launcher: a WORLD_SIZE from elsewhere is not ours


def processes(device: str = "auto") -> Processes | None:
    """The process group when the worker launched this process as one of several, else None.
    ``device`` "cpu" keeps a GPU machine's processes on the CPU (gloo)."""
    if not os.environ.get(MARKER) or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    return Processes(PartialState(cpu=device == "cpu" or not torch.cuda.is_available()))
