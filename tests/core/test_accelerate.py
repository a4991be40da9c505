"""The same run config under ``accelerate launch``: two processes train, rank 0 writes the run.

Why ``--multi_gpu`` and not ``--cpu``: in accelerate 1.x ``--cpu --num_processes 2``
starts one process (its multi-CPU mode needs ``mpirun``), so a test written that way
passes without any second rank. ``--multi_gpu`` starts two processes through torchrun;
with no GPU visible and ``device: cpu`` they train with DDP over gloo on the CPU, the
path a multi-GPU box takes with NCCL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.train_config import PRESETS, TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def _free_port() -> int:
    """A port no one listens on: torchrun's default 29500 may be taken on a shared machine."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(config_file: Path, *extra: str, env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
               "-m", "core", "train", str(config_file), *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def test_two_processes_train_one_run_and_rank_0_writes_it(tiny_model_dir, tmp_path, lab_home):
    config = TrainConfig(model=str(tiny_model_dir), template="Review: {text}\nSentiment:",
                         max_steps=3, batch_size=4, max_train_examples=16, max_eval_examples=6,
                         threads=1, lora_dropout=0.0, learning_rate=1e-2, device="cpu")
    config_file, run_dir = tmp_path / "config.json", tmp_path / "run"
    config_file.write_text(json.dumps(config.to_dict()))
    env = {**os.environ, "PROMPTTUNE_HOME": str(lab_home), "CUDA_VISIBLE_DEVICES": "",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = _launch(config_file, "--run-dir", str(run_dir), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # both ranks went through the CLI to the end, and both saw the run succeed
    assert done.stdout.count(f"run {run_dir.name}: succeeded") == 2, done.stdout
    assert (run_dir / "adapter/adapter_model.safetensors").exists()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "succeeded"
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds.count("start") == 1 and kinds.count("end") == 1  # rank 0 alone writes
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 3 and 0.0 <= metrics["accuracy"] <= 1.0
    from safetensors.torch import load_file

    lora_b = [t for k, t in load_file(run_dir / "adapter/adapter_model.safetensors").items()
              if "lora_B" in k]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)  # trained: B starts at zero


def test_shipped_run_config_is_the_live_demo_preset():
    assert load_config(CONFIGS / "live-demo.json") == PRESETS["live-demo"]


@pytest.mark.parametrize("name, kind", [("multi-gpu", "MULTI_GPU"),
                                        ("deepspeed-zero2", "DEEPSPEED"), ("fsdp", "FSDP")])
def test_shipped_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    path = CONFIGS / "accelerate" / f"{name}.yaml"
    assert path.read_text().startswith("# ")  # each says what it is for
    config = load_config_from_file(str(path))
    assert config.distributed_type.value == kind and config.mixed_precision == "bf16"
