"""PyTorch peer of `blkrew bench train-speed`: training throughput of one model at one thread count.

Run in the bench-only environment (scripts/bench-venv.sh), one configuration per process so the
benchmark can interleave it with blkrew's measurement of the same configuration:

    .venv-bench/bin/python scripts/bench/train_speed.py --model vgg11 --threads 1 --seconds 3

Prints one JSON object on stdout: the model, batch, threads, the mean step time of each timed
block (`block_step_s`), the median of those (`step_s`) and `samples_per_s = batch / step_s`.
The models are the ones of blkrew's ModelZoo, layer for layer (same shapes, same optimizer):

- mlp      784-300-100-10, ReLU; SGD momentum 0.9                           input [64, 784]
- lenet5   conv(1,6,5,pad 2)-relu-pool-conv(6,16,5)-relu-pool-fc 400-120-84-10; SGD m 0.9
           input [64, 1, 28, 28]
- vgg11    VGG-11 layout x0.25 with BatchNorm, 3x3 convs pad 1, 5 max pools, classifier
           dropout 0.5 / fc c-c / relu / dropout / fc c-c / relu / fc c-10; SGD m 0.9 wd 5e-4
           input [64, 1, 32, 32]
- gru      GRU(12, 128, batch_first) -> last step -> fc 128-9; Adam       input [32, 29, 12]

Data are seeded random tensors of the real shapes (throughput does not depend on the values).
"""

import argparse
import json
import os
import sys
import time


def build(name, torch):
    nn = torch.nn
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                              nn.Linear(100, 10))
        return model, (64, 784), 10, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if name == "lenet5":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        return model, (64, 1, 28, 28), 10, torch.optim.SGD(model.parameters(), lr=0.01,
                                                           momentum=0.9)
    if name == "vgg11":
        layers, c = [], 1
        for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            out = max(1, round(v * 0.25))
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            c = out
        model = nn.Sequential(
            *layers, nn.Flatten(), nn.Dropout(0.5), nn.Linear(c, c), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(c, c), nn.ReLU(), nn.Linear(c, 10))
        return model, (64, 1, 32, 32), 10, torch.optim.SGD(
            model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    if name == "gru":

        class GRUClassifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = nn.GRU(12, 128, batch_first=True)
                self.fc = nn.Linear(128, 9)

            def forward(self, x):
                y, _ = self.gru(x)
                return self.fc(y[:, -1])

        model = GRUClassifier()
        return model, (32, 29, 12), 9, torch.optim.Adam(model.parameters(), lr=1e-3)
    raise SystemExit(f"train_speed.py: unknown model {name!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["mlp", "lenet5", "vgg11", "gru"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds (after warm-up)")
    ap.add_argument("--blocks", type=int, default=7, help="timed blocks of steps")
    ap.add_argument("--warmup", type=int, default=5, help="least warm-up steps")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(1)
    model, shape, classes, opt = build(args.model, torch)
    model.train()
    x = torch.randn(*shape)
    y = torch.arange(shape[0]) % classes
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    # Warm-up: allocator, oneDNN primitive caches, thread pool; also sizes the timed blocks.
    t0 = time.perf_counter()
    n = 0
    while n < args.warmup or time.perf_counter() - t0 < min(0.3, args.seconds):
        step()
        n += 1
    per_step = (time.perf_counter() - t0) / n
    steps = max(1, int(args.seconds / args.blocks / per_step))
    block = []
    for _ in range(args.blocks):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        block.append((time.perf_counter() - t0) / steps)
    med = sorted(block)[len(block) // 2]
    json.dump({
        "model": args.model, "batch": shape[0], "threads": args.threads,
        "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "steps_per_block": steps, "block_step_s": block, "step_s": med,
        "samples_per_s": shape[0] / med,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "mkl": bool(torch.backends.mkl.is_available()),
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
