"""Fresh-process A/B of the training heap settings: step time, page faults and peak RSS of default LoRA steps.

Each variant `THRESHOLD_MIB:CAP_MIB` runs in its own fresh process (the allocator state is per process):
the probe model, `train.heap.limit_retention(THRESHOLD)` before it loads (0 = glibc as it is),
`train.heap.cap_resident(CAP)` on its layers (0 = none), then `--steps` default LoRA steps (8 x 256
packed tokens of proofnet-valid, activation checkpointing, the chunked loss), as `train_lora` runs them.
Prints one row per run: seconds, minor page faults and system CPU seconds per step, peak RSS (VmHWM)
and the losses (the settings change no computed value, so the losses must be identical across rows).

    flock /tmp/curate-heavy.lock nice -n 5 python benchmarks/train_step_ab.py 0:0 4:0 0:2048 0:0 4:0 0:2048
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(threshold_mib: float, cap_mib: float, steps: int, layers: int, threads: int) -> None:
    """Child mode: run the steps and print one table row."""
    sys.path.insert(0, str(ROOT))
    from train import heap

    heap.limit_retention(int(threshold_mib * 2**20))  # before anything large is allocated, as train_lora does
    import torch

    torch.set_num_threads(threads)
    from peft import LoraConfig, get_peft_model

    from curate import load, probe
    from train.lora import collate, make_sequences, select_tokens
    from train.loss import make_loss_module

    model, tok = probe.load(os.environ.get("AB_MODEL", "smollm2"))
    if layers:
        blocks = heap.repeated_blocks(model)
        del blocks[layers:]  # a shorter model for quick looks; the default is all of them
        model.model.layers = torch.nn.ModuleList(blocks)
        model.config.num_hidden_layers = layers
    seqs = make_sequences(select_tokens(load.load_source("proofnet-valid"), tok, 2048 * steps, 0)[0], 256, True)
    model.activation_checkpointing_enable({"use_reentrant": False})
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    step_loss = make_loss_module(model, 256)
    step_loss.train()
    heap.cap_resident(model, int(cap_mib * 2**20))
    secs, faults, sys_s, losses = [], [], [], []
    for i in range(steps):
        batch = collate(seqs[8 * i: 8 * i + 8])
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        loss = step_loss(**batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad()
        secs.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        faults.append(r1.ru_minflt - r0.ru_minflt)
        sys_s.append(r1.ru_stime - r0.ru_stime)
        losses.append(float(loss.detach()))
    hwm = int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")).split()[1]) // 1024
    load1 = os.getloadavg()[0]
    print(f"| {threshold_mib:g} | {cap_mib:g} | {' '.join(f'{s:.2f}' for s in secs)} | "
          f"{' '.join(f'{f / 1000:.0f}k' for f in faults)} | {' '.join(f'{s:.2f}' for s in sys_s)} | {hwm:,} | "
          f"{' '.join(f'{x:.5f}' for x in losses)} | {load1:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="*", help="THRESHOLD_MIB:CAP_MIB, run in this order, one process each")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--layers", type=int, default=0, help="keep only this many layers (0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        thr, cap = (float(x) for x in args.child.split(":"))
        return one(thr, cap, args.steps, args.layers, args.threads)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {os.cpu_count()} CPUs  "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}  steps {args.steps}  layers {args.layers or 'all'}")
    print("| threshold MiB | cap MiB | step s | minor faults | sys s | peak RSS MiB | losses | load |")
    print("|---:|---:|---|---|---|---:|---|---:|", flush=True)
    for v in args.variants:
        run = subprocess.run([sys.executable, __file__, "--child", v, "--steps", str(args.steps), "--layers",
                              str(args.layers), "--threads", str(args.threads)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        print(run.stdout.strip() if run.returncode == 0 else f"| {v} failed (rc {run.returncode}): "
              f"{run.stderr.strip().splitlines()[-1:]} |", flush=True)
    print(f"# load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
