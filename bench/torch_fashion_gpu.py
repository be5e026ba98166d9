#!/usr/bin/env python3
"""The Fashion-MNIST MLP and CNN of kiln's examples, in PyTorch eager on a GPU.

Same networks, Adam (lr 1e-3), batch 128, shuffled batches, the loss read back
every step (as kiln's loop does), batches moved host -> GPU each step (as kiln's
loader does). Prints the seconds of every epoch and a RESULT line:

    python3 bench/torch_fashion_gpu.py --data DIR --model mlp|cnn [--batchnorm] --epochs N [--device cpu]

`--device cpu` runs the same loop on the CPU, to try the script where no GPU is.
"""
import argparse
import gzip
import json
import os
import statistics
import time

import torch
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def load(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = (images.float() / 255.0 - 0.2860) / 0.3530
    return x.unsqueeze(1), labels.long()


def make_model(kind, batchnorm):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    def block(cin, cout):
        layers = [nn.Conv2d(cin, cout, 3, padding=1)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(cout))
        return layers + [nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--model", choices=["mlp", "cnn"], required=True)
    p.add_argument("--batchnorm", action="store_true")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    on_gpu = device.type == "cuda"

    def wait():  # kernels run asynchronously on a GPU: wait for them before reading the clock
        if on_gpu:
            torch.cuda.synchronize(device)

    torch.backends.cuda.matmul.allow_tf32 = False  # kiln's cuBLAS calls run full float32
    torch.backends.cudnn.allow_tf32 = False
    x_train, y_train = load(a.data, "train")
    x_test, y_test = load(a.data, "test")
    model = make_model(a.model, a.batchnorm).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    epoch_seconds = []
    for epoch in range(a.epochs):
        model.train()
        wait()
        t0 = time.perf_counter()
        order = torch.randperm(len(x_train), generator=gen)
        loss_sum = 0.0
        for start in range(0, len(order), 128):
            idx = order[start:start + 128]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
        wait()
        epoch_seconds.append(time.perf_counter() - t0)
        print(f"torch {a.model} epoch {epoch + 1}: loss {loss_sum / ((len(order) + 127) // 128):.4f}, "
              f"{epoch_seconds[-1]:.3f} s", flush=True)
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x_test), 256):
            logits = model(x_test[start:start + 256].to(device))
            correct += (logits.argmax(1).cpu() == y_test[start:start + 256]).sum().item()
    steady = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    print("RESULT " + json.dumps({"framework": "pytorch", "torch_version": torch.__version__,
                                  "device": str(device),
                                  "gpu": torch.cuda.get_device_name(device) if on_gpu else None,
                                  "model": a.model + ("_bn" if a.batchnorm else ""),
                                  "epoch_seconds": epoch_seconds,
                                  "median_epoch_seconds_after_first": statistics.median(steady),
                                  "test_acc": correct / len(x_test)}))


if __name__ == "__main__":
    main()
