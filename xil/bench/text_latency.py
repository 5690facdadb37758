"""Text explanation cost on the CPU: the MiniLM-L6 classifier (two labels, new head) on one review of
exactly 64 word pieces ([CLS] and [SEP] included), every text explainer.

``explain_ms_text``: median milliseconds of ``explain_text`` (prediction included) over ``repeats`` runs
after one warm-up, with torch's default thread count, in the precision ``explain_precision_text`` says
(``XIL_PRECISION``; bfloat16 on CPUs that have it).

``explain_peak_mb_text``: the extra resident memory one explanation needs at its peak, in MiB,
measured in a fresh Python process per method (tensor memory on the CPU is plain ``malloc``, which
``tracemalloc`` does not see). The process loads the model and runs the method once (warm-up), then
resets the kernel's peak-RSS counter (``/proc/self/clear_refs`` <- 5), reads the current RSS, runs the
method again and reports ``VmHWM - VmRSS``. glibc's mmap threshold is pinned at 128 KiB in that
process so freed tensors go back to the kernel instead of staying in the heap, where they would hide
the next run's allocations. Where ``clear_refs`` cannot be written (not Linux), it falls back to the
``ru_maxrss`` growth of a first, cold run, which also counts one-off allocations.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys

import torch

from xil.bench.timing import median_ms
from xil.explain.text import REGISTRY, explain_text
from xil.models.text import Encoded, encode, load_classifier
from xil.precision import precision_name

LENGTH = 64
REVIEW = (
    "The hotel room was clean and comfortable, the staff at the front desk were friendly and quick, "
    "breakfast had fresh fruit, warm bread and decent coffee, but the walls were thin, the street "
    "outside stayed loud until late at night and the shower took ages to get warm. For the price it was "
    "fine and I would probably stay there again if the rate stays this low."
)


def example(tokenizer, length: int = LENGTH) -> Encoded:
    encoded = encode(tokenizer, [REVIEW], max_length=length)
    if encoded.input_ids.shape[1] != length:
        raise RuntimeError(f"the benchmark review has {encoded.input_ids.shape[1]} tokens, not {length}")
    return encoded


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _peak_mb_here(method: str, length: int) -> float:
    """Run inside the fresh process: see the module docstring."""
    model, tokenizer = load_classifier(num_labels=2)
    encoded = example(tokenizer, length)
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        explain_text(model, encoded, method)
        return round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, 1)
    explain_text(model, encoded, method)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _status_kib("VmRSS")
    explain_text(model, encoded, method)
    return round((_status_kib("VmHWM") - before) / 1024, 1)


def peak_mb(method: str, length: int = LENGTH) -> float:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    env.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
    out = subprocess.run(
        [sys.executable, "-m", "xil.bench.text_latency", "--peak", method, str(length)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def explain_latency_text(repeats: int = 10, length: int = LENGTH, memory: bool = True) -> dict:
    model, tokenizer = load_classifier(num_labels=2, device="cpu")
    encoded = example(tokenizer, length)
    ms = {name: median_ms(lambda n=name: explain_text(model, encoded, n), repeats) for name in REGISTRY}
    mb = {name: peak_mb(name, length) for name in REGISTRY} if memory else {}
    precision = precision_name("cpu")
    return {"explain_ms_text": ms, "explain_peak_mb_text": mb, "explain_precision_text": precision}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--peak":
        print(_peak_mb_here(sys.argv[2], int(sys.argv[3])))
    else:
        print(json.dumps({"threads": torch.get_num_threads(), **explain_latency_text()}, indent=2))
