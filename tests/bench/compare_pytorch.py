#!/usr/bin/python3
"""Times the same training workloads in PyTorch (float64 and float32) and in AlphabetLstm, on one
machine, in one run, alternating, and prints the ratio per workload.

Workloads (single thread everywhere):
  - the tutorial's six experiments at its settings: microseconds per optimizer step. PyTorch runs a
    number of whole epochs sized to --seconds (its per-step cost does not change with the epoch
    count); ours runs the whole fit, as `experiment` does.
  - the grid (I, H, B, T): training steps per second on a fixed random batch after warm-up.

PyTorch side: nn.LSTM + nn.Linear + nn.CrossEntropyLoss (mean, from logits), initialised as Keras
does (glorot-uniform kernels, orthogonal recurrent kernel, zero biases with the forget block at 1),
Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-7), torch.set_num_threads(1). Stateful runs carry the
detached state across batches and reset it after every epoch, as the tutorial does.

Two PyTorch models are timed: nn.LSTM (cuDNN-style fused layer; float64 and float32), and the Keras
cell written by hand in PyTorch (float64): two matmuls into one fused 4H tensor, the gates i, f, c, o
as slices of it, the state carried by hand, which is about twice as fast per step for tiny models.
The ratios are stated against the faster of the two float64 models.

Whole process: a fresh `alphabet-lstm experiment one-char` process (the tutorial's full settings,
start-up included) against a fresh PyTorch process running the same experiment (`--whole one-char`:
import torch, build the data, train 500 epochs, evaluate), for both PyTorch models.

Each round runs: ours (`alphabet-lstm bench --json`), PyTorch float64, PyTorch float32, the hand cell
in float64, then the whole processes, each in its own process; the figures reported are the medians
over rounds (and each of those is a median of --repeats). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, where this machine sets them, are removed from the
PyTorch workers' environment only (they make a current OpenBLAS pick a slower kernel); the kernel
OpenBLAS then runs is printed.

Text (`--text FILE`): char-rnn on a real text, a target at every position, the state carried between
chunks (truncated BPTT), the last 10 % held out and read after every epoch, as `alphabet-lstm train
--text FILE --stateful` trains: each run a whole fresh process (ours in float64; PyTorch float32 and
float64; with `--text-runs keras-float32,keras-float64` PyTorch with one LSTM bias and Keras' Adam, the
model ours trains), one after another, timed from start to exit in wall and CPU seconds with its peak
resident memory, training and held-out seconds per epoch, and the held-out bits per character after
every epoch. `--text-seed S` draws every run's initial weights from seed S (repeat it to compare seeds).

Usage (from the repository root, after `apt-get install -y python3-torch libopenblas0-openmp`):
  dotnet build src/AlphabetLstm.Cli -c Release
  /usr/bin/python3 tests/bench/compare_pytorch.py [--rounds 2] [--repeats 3] [--seconds 0.5] [--quick] [--json FILE]
  /usr/bin/python3 tests/bench/compare_pytorch.py --text FILE [--rounds 1] [--text-window 50 --text-units 128 --text-batch 32 --text-epochs 3]
      [--text-seed S] [--text-runs ours,float32,float64,keras-float32,keras-float64]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "src", "AlphabetLstm.Cli", "bin", "Release", "net10.0", "alphabet-lstm.dll")
APPHOST = os.path.join(ROOT, "src", "AlphabetLstm.Cli", "bin", "Release", "net10.0", "alphabet-lstm")
# (dtype, model) of the PyTorch workers, in the order each round runs them.
TORCH_RUNS = [("float64", "lstm"), ("float32", "lstm"), ("float64", "hand")]
V = 26

# id: (I, H, B, T, N, epochs, shuffle, stateful) -- the tutorial's settings (src/AlphabetLstm.Core/Experiments.fs).
EXPERIMENTS = {
    "one-char": (1, 32, 1, 1, 25, 500, True, False),
    "feature-window": (3, 32, 1, 1, 23, 500, True, False),
    "timestep-window": (1, 32, 1, 3, 23, 500, True, False),
    "batch-state": (1, 16, 25, 1, 25, 5000, False, False),
    "stateful": (1, 50, 1, 1, 25, 300, False, True),
    "variable-length": (1, 32, 1, 5, 1000, 500, True, False),
}
GRID = [(1, 32, 1, 1), (1, 32, 1, 5), (26, 128, 32, 50), (26, 512, 32, 50)]


# ---- the PyTorch worker ------------------------------------------------------------------------

class HandLstm:
    """The Keras LSTM cell written by hand: z = x·W + h·U + b on one fused (B, 4H) tensor, gates i, f, c, o.

    Called like nn.LSTM(batch_first=True): (x, state or None) -> (out, (h, c)); only out[:, -1] is used.
    From a zero state (None) the first step skips h·U, as ours does.
    """

    def __init__(self, torch, I, H, dtype):
        from torch import nn
        self.torch, self.H = torch, H
        w = torch.empty(I, 4 * H); nn.init.xavier_uniform_(w)
        u = torch.empty(H, 4 * H); nn.init.orthogonal_(u)
        b = torch.zeros(4 * H); b[H:2 * H] = 1.0
        self.W, self.U, self.b = (t.to(dtype).requires_grad_() for t in (w, u, b))

    def parameters(self):
        return [self.W, self.U, self.b]

    def __call__(self, x, state):
        torch, H = self.torch, self.H
        h, c = state if state is not None else (None, None)
        for t in range(x.shape[1]):
            z = torch.addmm(self.b, x[:, t, :], self.W)
            if h is not None:
                z = z + h @ self.U
            i, f, g, o = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H]), torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
            c = i * g if c is None else f * c + i * g
            h = o * torch.tanh(c)
        return h.unsqueeze(1), (h, c)


def torch_worker(dtype_name, repeats, seconds, experiments, grid, out, cell="lstm", whole=None):
    import torch
    from torch import nn

    torch.set_num_threads(1)
    dtype = {"float64": torch.float64, "float32": torch.float32}[dtype_name]
    torch.manual_seed(1)

    def keras_model(I, H):
        if cell == "hand":
            lstm, head = HandLstm(torch, I, H, dtype), nn.Linear(H, V)
            with torch.no_grad():
                k = torch.empty(H, V); nn.init.xavier_uniform_(k); head.weight.copy_(k.t()); head.bias.zero_()
            head = head.to(dtype)
            params = lstm.parameters() + list(head.parameters())
            return lstm, head, torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
        lstm, head = nn.LSTM(I, H, batch_first=True), nn.Linear(H, V)
        with torch.no_grad():
            # Keras: kernel (I, 4H) glorot-uniform, recurrent (H, 4H) orthogonal; PyTorch stores the transposes.
            w = torch.empty(I, 4 * H); nn.init.xavier_uniform_(w); lstm.weight_ih_l0.copy_(w.t())
            u = torch.empty(H, 4 * H); nn.init.orthogonal_(u); lstm.weight_hh_l0.copy_(u.t())
            lstm.bias_ih_l0.zero_(); lstm.bias_ih_l0[H:2 * H] = 1.0  # gate order i, f, g, o = Keras' i, f, c, o
            lstm.bias_hh_l0.zero_()
            k = torch.empty(H, V); nn.init.xavier_uniform_(k); head.weight.copy_(k.t()); head.bias.zero_()
        lstm, head = lstm.to(dtype), head.to(dtype)
        params = list(lstm.parameters()) + list(head.parameters())
        return lstm, head, torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)

    loss_fn = nn.CrossEntropyLoss()

    def step(lstm, head, opt, x, y, state):
        opt.zero_grad()
        out, (h, c) = lstm(x, state)
        loss = loss_fn(head(out[:, -1, :]), y)
        loss.backward()
        opt.step()
        return h.detach(), c.detach()

    def time_epochs(spec, epochs):
        I, H, B, T, N, _, shuffle, stateful = spec
        lstm, head, opt = keras_model(I, H)
        x_all = (torch.randint(0, V, (N, T, I)).to(dtype) / V)
        y_all = torch.randint(0, V, (N,))
        steps = 0
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(N) if shuffle else torch.arange(N)
            state = None
            for s in range(0, N, B):
                idx = order[s:s + B]
                h, c = step(lstm, head, opt, x_all[idx], y_all[idx], state if stateful else None)
                state = (h, c)
                steps += 1
        return (time.perf_counter() - t0), steps

    if whole:
        # The experiment itself, as a user's script would run it: the tutorial's data, every epoch, then the accuracy.
        I, H, B, T, N, epochs, shuffle, stateful = EXPERIMENTS[whole]
        n = max(I, T)
        windows = [[k + j for j in range(n)] for k in range(V - n)]
        x_all = torch.tensor(windows, dtype=dtype).reshape(N, T, I) / V
        y_all = torch.tensor([w[-1] + 1 for w in windows])
        lstm, head, opt = keras_model(I, H)
        for _ in range(epochs):
            order = torch.randperm(N) if shuffle else torch.arange(N)
            state = None
            for s in range(0, N, B):
                idx = order[s:s + B]
                state = step(lstm, head, opt, x_all[idx], y_all[idx], state if stateful else None)
        with torch.no_grad():
            out, _ = lstm(x_all, None)
            accuracy = (head(out[:, -1, :]).argmax(1) == y_all).double().mean().item()
        print(f"{whole}: accuracy {accuracy:.2%}")
        return

    result = {"dtype": dtype_name, "cell": cell, "torch": torch.__version__, "blas": blas_info(), "experiments": {}, "grid": []}
    for name in experiments:
        spec = EXPERIMENTS[name]
        I, H, B, T, N, full_epochs, _, _ = spec
        steps_per_epoch = math.ceil(N / B)
        time_epochs(spec, max(1, 200 // steps_per_epoch))           # warm-up
        secs, steps = time_epochs(spec, 1)
        epochs = max(1, min(full_epochs, round(seconds / (secs / steps) / steps_per_epoch)))
        per_step = []
        for _ in range(repeats):
            secs, steps = time_epochs(spec, epochs)
            per_step.append(secs / steps * 1e6)
        us = statistics.median(per_step)
        result["experiments"][name] = {"usPerStep": us, "epochsTimed": epochs,
                                       "projectedTrainSeconds": us * 1e-6 * full_epochs * steps_per_epoch}
    for (I, H, B, T) in grid:
        lstm, head, opt = keras_model(I, H)
        x = torch.rand(B, T, I, dtype=dtype)
        y = torch.randint(0, V, (B,))
        t0 = time.perf_counter()
        step(lstm, head, opt, x, y, None)
        one = time.perf_counter() - t0
        n = max(2, min(100_000, int(seconds / max(one, 1e-7))))
        for _ in range(min(n, 50)):                                    # warm-up
            step(lstm, head, opt, x, y, None)
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                step(lstm, head, opt, x, y, None)
            rates.append(n / (time.perf_counter() - t0))
        # The LSTM alone, forward over T and backward from d h_T (no head, no optimizer): the work
        # ours times as its kernel step (`bench --kernel-precision`).
        # nn.LSTM only (the hand cell is timed as a whole step).
        g = torch.rand(B, H, dtype=dtype)

        def lstm_only():
            for q in lstm.parameters():
                q.grad = None
            out, _ = lstm(x, None)
            out[:, -1, :].backward(g)
        only = []
        if cell == "lstm":
            for _ in range(min(n, 20)):                                # warm-up
                lstm_only()
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(n):
                    lstm_only()
                only.append(n / (time.perf_counter() - t0))
        result["grid"].append({"shape": [I, H, B, T], "stepsPerSecond": statistics.median(rates), "stepsPerRepeat": n,
                               "lstmOnlyStepsPerSecond": statistics.median(only) if only else None})
    with open(out, "w") as f:
        json.dump(result, f, indent=2)


class KerasAdam:
    """Keras' Adam: lr_t = lr·sqrt(1 − β2^t) / (1 − β1^t); θ ← θ − lr_t·m / (sqrt(v) + ε). PyTorch's adds ε
    to sqrt(v̂) instead, which is ε / sqrt(1 − β2^t) here: at the first steps, with the small gradients of a
    loss averaged over T·B positions, that moves the weights visibly differently."""

    def __init__(self, torch, params, lr, beta1=0.9, beta2=0.999, eps=1e-7):
        self.torch, self.params, self.lr, self.b1, self.b2, self.eps, self.t = torch, list(params), lr, beta1, beta2, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        lr_t = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        with self.torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                g = p.grad
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                p.sub_(lr_t * m / (v.sqrt() + self.eps))


def text_worker(dtype_name, path, T, H, B, epochs, validation, lr, out, keras=False, seed=1):
    """char-rnn in PyTorch on a text, as `alphabet-lstm train --text FILE --stateful` trains: the last
    `validation` of the text held out; B streams of S = n_train // B characters read in chunks of T,
    one-hot inputs, a target at every position (mean cross-entropy over all T·B), the state carried
    and detached between chunks (truncated BPTT), reset every epoch; after every epoch the held-out
    text read as one stream from the zero state in chunks of T. Keras' initialisers drawn from
    torch.manual_seed(seed), Adam(lr, eps=1e-7)."""
    import resource
    import torch
    from torch import nn
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    dtype = {"float64": torch.float64, "float32": torch.float32}[dtype_name]
    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    vocab = sorted(set(text))
    V = len(vocab)
    index = {c: k for k, c in enumerate(vocab)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = len(data)
    held = int(math.floor(validation * n))
    train, heldout = data[:n - held], data[n - held:]
    S = len(train) // B
    chunks = (S - 1) // T
    streams = train[:B * S].view(B, S)
    lstm, head = nn.LSTM(V, H, batch_first=True), nn.Linear(H, V)
    with torch.no_grad():
        w = torch.empty(V, 4 * H); nn.init.xavier_uniform_(w); lstm.weight_ih_l0.copy_(w.t())
        u = torch.empty(H, 4 * H); nn.init.orthogonal_(u); lstm.weight_hh_l0.copy_(u.t())
        lstm.bias_ih_l0.zero_(); lstm.bias_ih_l0[H:2 * H] = 1.0
        lstm.bias_hh_l0.zero_()
        k = torch.empty(H, V); nn.init.xavier_uniform_(k); head.weight.copy_(k.t()); head.bias.zero_()
    lstm, head = lstm.to(dtype), head.to(dtype)
    if keras:
        # The model Keras (and ours) trains: one LSTM bias (nn.LSTM's second bias held at zero; with two
        # trainable biases Adam moves the sum twice as fast) and Keras' Adam.
        lstm.bias_hh_l0.requires_grad_(False)
        opt = KerasAdam(torch, [p for p in list(lstm.parameters()) + list(head.parameters()) if p.requires_grad], lr)
    else:
        opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=lr, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    eye = torch.eye(V, dtype=dtype)
    prepare = time.perf_counter() - t0
    history = []
    for epoch in range(1, epochs + 1):
        t1 = time.perf_counter()
        state, total = None, 0.0
        for c in range(chunks):
            x = eye[streams[:, c * T:(c + 1) * T]]
            y = streams[:, c * T + 1:(c + 1) * T + 1]
            opt.zero_grad()
            o, (h, cc) = lstm(x, state)
            loss = loss_fn(head(o).reshape(-1, V), y.reshape(-1))
            loss.backward()
            opt.step()
            state = (h.detach(), cc.detach())
            total += loss.item()
        t2 = time.perf_counter()
        with torch.no_grad():
            state, lsum, m = None, 0.0, (len(heldout) - 1) // T
            for c in range(m):
                x = eye[heldout[c * T:(c + 1) * T]].unsqueeze(0)
                o, state = lstm(x, state)
                lsum += nn.functional.cross_entropy(head(o)[0], heldout[c * T + 1:(c + 1) * T + 1], reduction="sum").item()
            vloss = lsum / (m * T) if m else float("nan")
        t3 = time.perf_counter()
        history.append({"epoch": epoch, "loss": total / chunks, "validationLoss": vloss,
                        "validationBitsPerCharacter": vloss / math.log(2), "trainSeconds": t2 - t1, "validationSeconds": t3 - t2})
        print(f"  pytorch {dtype_name}{' keras' if keras else ''} epoch {epoch}/{epochs}: loss {total / chunks:.4f}, held-out {vloss:.4f} nats "
              f"({vloss / math.log(2):.4f} bits/char), train {t2 - t1:.1f} s, held-out pass {t3 - t2:.1f} s", flush=True)
    result = {"dtype": dtype_name, "kerasAdam": keras, "seed": seed, "torch": torch.__version__, "characters": n, "vocabularySize": V, "prepareSeconds": prepare,
              "history": history, "peakResidentMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    with open(out, "w") as f:
        json.dump(result, f, indent=2)


TEXT_RUNS = ["ours", "float32", "float64", "keras-float32", "keras-float64"]


def run_text(args):
    """The text workload side by side, each a whole fresh process timed from start to exit (wall and CPU
    seconds, user + system) with its peak resident memory, one after another in the order --text-runs
    lists them: ours (`train --text … --stateful`, validation included, float64), PyTorch nn.LSTM float32
    and float64 with torch.optim.Adam, and (keras-…) with one LSTM bias and Keras' Adam, the model ours
    trains. Every run draws its initial weights from --text-seed (ours: --seed; PyTorch: manual_seed)."""
    env, removed = torch_env()
    T, H, B, epochs, validation, lr = args.text_window, args.text_units, args.text_batch, args.text_epochs, args.text_validation, args.text_lr

    def timed(cmd, env=None):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL if cmd[0] != sys.executable else None)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed with exit code {p.returncode}")
        return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024

    runs = [r for r in args.text_runs.split(",") if r]
    if args.text_keras:
        runs += [r for r in ("keras-float32", "keras-float64") if r not in runs]
    unknown = [r for r in runs if r not in TEXT_RUNS]
    if unknown:
        sys.exit(f"--text-runs: unknown run {unknown[0]!r}; valid: {', '.join(TEXT_RUNS)}")
    load = os.getloadavg()

    rows = []
    seed = args.text_seed
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for run in runs:
                if run == "ours":
                    print(f"round {r + 1}/{args.rounds}: ours (float64), seed {seed}", flush=True)
                    ours_json = os.path.join(tmp, f"ours{r}.json")
                    wall, cpu, rss = timed([APPHOST, "train", "--text", args.text, "--stateful", "--window", str(T), "--units", str(H),
                                            "--batch-size", str(B), "--epochs", str(epochs), "--validation", str(validation),
                                            "--learning-rate", str(lr), "--seed", str(seed), "--save", os.path.join(tmp, "m.json"),
                                            "--json", ours_json, "--quiet"])
                    with open(ours_json) as f:
                        ours = json.load(f)
                    rows.append(("ours (float64)", wall, cpu, rss, ours["history"], ours))
                    continue
                keras = run.startswith("keras-")
                dtype = run.removeprefix("keras-")
                label = f"PyTorch nn.LSTM {dtype}" + (", one bias + Keras' Adam" if keras else "")
                print(f"round {r + 1}/{args.rounds}: {label}, seed {seed}", flush=True)
                out = os.path.join(tmp, f"{run}{r}.json")
                wall, cpu, rss = timed([sys.executable, os.path.abspath(__file__), "--text-worker", dtype, "--text", args.text,
                                        "--text-window", str(T), "--text-units", str(H), "--text-batch", str(B), "--text-epochs", str(epochs),
                                        "--text-validation", str(validation), "--text-lr", str(lr), "--text-seed", str(seed), "--json", out]
                                       + (["--text-keras"] if keras else []), env)
                with open(out) as f:
                    t = json.load(f)
                rows.append((label, wall, cpu, rss, t["history"], t))
    print()
    print(f"text {args.text}: T = {T}, H = {H}, B = {B}, {epochs} epochs, the last {validation} held out, Adam {lr}, one thread, "
          f"seed {seed}; env removed for pytorch: {removed or 'none'}; load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    print()
    print("| run | wall s (whole process) | CPU s (user + system) | peak resident MB | training s/epoch | held-out pass s/epoch | held-out bits/char by epoch |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, wall, cpu, rss, history, full in rows:
        if "trainSeconds" in history[0]:
            train_s = statistics.median([h["trainSeconds"] for h in history])
            val_s = statistics.median([h["validationSeconds"] for h in history])
        else:
            train_s = statistics.median([h["seconds"] - h.get("validationSeconds", 0.0) for h in history])
            val_s = statistics.median([h.get("validationSeconds", float("nan")) for h in history])
        bits = ", ".join(f"{h['validationBitsPerCharacter']:.4f}" for h in history)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {train_s:.2f} | {val_s:.2f} | {bits} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": seed, "loadAverage": load[0],
                       "runs": [{"run": n, "wallSeconds": w, "cpuSeconds": c, "peakResidentMB": r, "result": full}
                                for n, w, c, r, _, full in rows]}, f, indent=2)
        print(f"wrote {args.json}")


def blas_info():
    """Which BLAS library the process has loaded, and which kernel OpenBLAS picked."""
    import ctypes
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() or "mkl" in l.lower()})
    info = {"libraries": libs}
    for lib in libs:
        try:
            so = ctypes.CDLL(lib)
            so.openblas_get_corename.restype = ctypes.c_char_p
            so.openblas_get_config.restype = ctypes.c_char_p
            info["openblasCore"] = so.openblas_get_corename().decode()
            info["openblasConfig"] = so.openblas_get_config().decode()
            break
        except (OSError, AttributeError):
            continue
    return info


# ---- the driver --------------------------------------------------------------------------------

def run_ours(args, experiments, grid, out):
    """Ours, one process for the experiments and one per grid point, as a user would train each.

    In one long process .NET's profile-guided JIT tunes the kernels for the shapes it meets first:
    after the tiny experiments, the large grid points measured about a third slower than alone.
    """
    def bench(exps, points, path):
        cmd = ["dotnet", CLI, "bench", "--threads", "1", "--repeats", str(args.repeats), "--seconds", str(args.seconds), "--json", path,
               "--experiments", ",".join(exps) or "none",
               "--grid", ",".join(str(GRID.index(g) + 1) for g in points) or "none",
               "--kernel-precision", "both" if points else "none"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(path) as f:
            return json.load(f)

    merged = bench(experiments, [], out + ".experiments.json")
    merged["grid"], merged["kernelSteps"], merged["ceilings"] = [], [], []
    for k, g in enumerate(grid):
        point = bench([], [g], out + f".grid{k}.json")
        merged["grid"].extend(point["grid"])
        merged["kernelSteps"].extend(point["kernels"]["steps"])
        merged["ceilings"].extend(point["kernels"]["ceilings"])
    with open(out, "w") as f:
        json.dump(merged, f)
    return merged


def torch_env():
    env = dict(os.environ)
    removed = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if env.pop(k, None) is not None]
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env, removed


def run_whole(args, name):
    """Wall seconds of fresh processes training experiment `name` at its full settings: ours, then each PyTorch model."""
    def timed(cmd, env=None):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        return time.perf_counter() - t0
    env, _ = torch_env()
    figures = {"ours": [], "float64-lstm": [], "float64-hand": []}
    for _ in range(args.repeats):
        figures["ours"].append(timed([APPHOST, "experiment", name]))
        for cell in ("lstm", "hand"):
            figures[f"float64-{cell}"].append(timed(
                [sys.executable, os.path.abspath(__file__), "--worker", "float64", "--cell", cell, "--whole", name], env))
    return {k: statistics.median(v) for k, v in figures.items()}


def run_torch(args, dtype, cell, experiments, grid, out):
    env, removed = torch_env()
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", dtype, "--cell", cell, "--repeats", str(args.repeats),
           "--seconds", str(args.seconds), "--experiments", ",".join(experiments),
           "--grid", ",".join(str(GRID.index(g) + 1) for g in grid), "--json", out]
    subprocess.run(cmd, check=True, env=env)
    with open(out) as f:
        result = json.load(f)
    result["removedEnv"] = removed
    return result


def nominal_peak(fma_units):
    """float32 GFLOP/s one core can do by its specification: FMA units × lanes × 2 × GHz, lanes = 16 with
    avx512f in the CPU flags (8 with avx2 only), GHz from /proc/cpuinfo's `cpu MHz` (the clock the kernel
    reports: the base clock in a VM, which shows no boost)."""
    flags, mhz = "", 0.0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags") and not flags:
                flags = line
            elif line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":")[1])
    lanes = 16 if " avx512f" in flags else 8
    return fma_units * lanes * 2 * mhz / 1000, lanes, mhz


def print_float32(grid, rounds, rows, args):
    """Float32: ours is the kernel step (forward over T, BPTT, the weight gradients through the float32
    kernels; no head, no Adam, which the float32 model does not have yet), against PyTorch nn.LSTM doing
    the same work (forward and backward of the LSTM alone) and its whole training step, in one run."""
    med = statistics.median
    peak, lanes, mhz = nominal_peak(args.fma_units)
    ceiling = med([c["gigaflopsPerSecond"] for o in rounds["ours"] for c in o["ceilings"] if c["precision"] == "float32"])
    print()
    print("float32: ours = the LSTM step's arithmetic through the kernels (forward over T, BPTT, d U, d W, d b; no head, no Adam);")
    print("PyTorch LSTM-only = nn.LSTM forward + backward from d h_T, the same work; PyTorch step = its whole training step.")
    print(f"GFLOP/s from 2 × (3·T·B·H·4H + 2·T·B·I·4H) multiply-adds a step. float32 peak: {args.fma_units} FMA units × {lanes} lanes × 2 × "
          f"{mhz / 1000:.3f} GHz = {peak:.1f} GFLOP/s (specification); measured FMA-chain ceiling on this run: {ceiling:.1f} GFLOP/s.")
    print()
    print("| I, H, B, T | ours f64 kernel step/s | ours f32 kernel step/s | PyTorch LSTM-only f64 | LSTM-only f32 | PyTorch step f32 "
          "| ours f32 / LSTM-only f32 | ours f32 / step f32 | ours f32 GFLOP/s (of peak, of ceiling) | PyTorch LSTM-only f32 GFLOP/s (of peak, of ceiling) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, shape in enumerate(grid):
        I, H, B, T = shape
        flop = 2 * (3 * T * B * H * 4 * H + 2 * T * B * I * 4 * H)
        kern = lambda prec: med([next(s["stepsPerSecond"] for s in o["kernelSteps"]
                                      if [s["inputs"], s["units"], s["batch"], s["timeSteps"]] == list(shape) and s["precision"] == prec)
                                 for o in rounds["ours"]])
        o64, o32 = kern("float64"), kern("float32")
        l64, l32 = (med([t["grid"][k]["lstmOnlyStepsPerSecond"] for t in rounds[key]]) for key in ("float64-lstm", "float32-lstm"))
        s32 = med([t["grid"][k]["stepsPerSecond"] for t in rounds["float32-lstm"]])
        g_ours, g_torch = o32 * flop / 1e9, l32 * flop / 1e9
        rows.setdefault("float32", []).append({"shape": list(shape), "oursKernel64": o64, "oursKernel32": o32, "torchLstmOnly64": l64,
                                               "torchLstmOnly32": l32, "torchStep32": s32, "oursGflops32": g_ours, "torchGflops32": g_torch,
                                               "peakGflops32": peak, "ceilingGflops32": ceiling})
        print(f"| {I}, {H}, {B}, {T} | {o64:,.2f} | {o32:,.2f} | {l64:,.2f} | {l32:,.2f} | {s32:,.2f} | {o32 / l32:.2f}× | {o32 / s32:.2f}× "
              f"| {g_ours:.1f} ({g_ours / peak:.0%}, {g_ours / ceiling:.0%}) | {g_torch:.1f} ({g_torch / peak:.0%}, {g_torch / ceiling:.0%}) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fma-units", type=int, default=2,
                    help="512-bit FMA units per core, for the float32 peak (default 2: AMD Zen 5 server cores, Intel Xeons with two FMA ports)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (ours, f64, f32); medians over rounds")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per workload in each round (median)")
    ap.add_argument("--seconds", type=float, default=0.5, help="target seconds per timed run")
    ap.add_argument("--experiments", default=",".join(EXPERIMENTS), help="comma-separated experiment ids, or none")
    ap.add_argument("--grid", default="1,2,3,4", help="comma-separated grid points 1..4, or none")
    ap.add_argument("--quick", action="store_true", help="one round, one repeat, short runs")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--whole-experiment", default="one-char",
                    help="the experiment timed as whole fresh processes (ours against a PyTorch script), or none")
    ap.add_argument("--worker", choices=["float64", "float32"], help=argparse.SUPPRESS)
    ap.add_argument("--cell", choices=["lstm", "hand"], default="lstm", help=argparse.SUPPRESS)
    ap.add_argument("--whole", choices=list(EXPERIMENTS), help=argparse.SUPPRESS)
    ap.add_argument("--text", help="instead of the experiments and the grid: train char-rnn on this UTF-8 text, ours against PyTorch f32 and f64")
    ap.add_argument("--text-window", type=int, default=50, help="with --text: T (default 50)")
    ap.add_argument("--text-units", type=int, default=128, help="with --text: H (default 128)")
    ap.add_argument("--text-batch", type=int, default=32, help="with --text: B, the streams (default 32)")
    ap.add_argument("--text-epochs", type=int, default=3, help="with --text: epochs (default 3)")
    ap.add_argument("--text-validation", type=float, default=0.1, help="with --text: the held-out fraction (default 0.1)")
    ap.add_argument("--text-lr", type=float, default=0.01, help="with --text: Adam's learning rate (default 0.01, train --text's)")
    ap.add_argument("--text-keras", action="store_true",
                    help="with --text: also run PyTorch with one LSTM bias and Keras' Adam (the model ours trains), float32 and float64")
    ap.add_argument("--text-runs", default="ours,float32,float64",
                    help="with --text: the runs, in order, comma-separated from " + ", ".join(TEXT_RUNS) +
                         " (keras-…: one LSTM bias and Keras' Adam; default ours,float32,float64)")
    ap.add_argument("--text-seed", type=int, default=1,
                    help="with --text: the seed every run draws its initial weights from (ours --seed, PyTorch manual_seed; default 1)")
    ap.add_argument("--text-worker", choices=["float64", "float32"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.text_worker:
        text_worker(args.text_worker, args.text, args.text_window, args.text_units, args.text_batch, args.text_epochs,
                    args.text_validation, args.text_lr, args.json, args.text_keras, args.text_seed)
        return
    # "none" (as the bench command spells it) or an empty list skips that part.
    experiments = [e for e in args.experiments.split(",") if e and e != "none"]
    unknown = [e for e in experiments if e not in EXPERIMENTS]
    if unknown:
        ap.error(f"unknown experiment {unknown[0]!r}; valid ids: {', '.join(EXPERIMENTS)}, none")
    grid_ids = [g for g in args.grid.split(",") if g and g != "none"]
    if any(g not in ("1", "2", "3", "4") for g in grid_ids):
        ap.error(f"--grid takes points 1..4 or none, got {args.grid!r}")
    grid = [GRID[int(g) - 1] for g in grid_ids]
    if args.worker:
        torch_worker(args.worker, args.repeats, args.seconds, experiments, grid, args.json, args.cell, args.whole)
        return
    if args.quick:
        args.rounds, args.repeats, args.seconds = 1, 1, 0.2
    if not os.path.exists(CLI):
        sys.exit(f"{CLI} not found: run `dotnet build src/AlphabetLstm.Cli -c Release` first")
    try:
        import torch  # noqa: F401  (only to fail early with a clear message)
    except ImportError:
        sys.exit("torch is not importable by this Python: apt-get install -y python3-torch libopenblas0-openmp, "
                 "and run the script with Debian's /usr/bin/python3")
    if args.text:
        if not os.path.isfile(args.text):
            ap.error(f"--text {args.text!r}: no such file")
        run_text(args)
        return

    whole = args.whole_experiment if args.whole_experiment != "none" else None
    if whole and whole not in EXPERIMENTS or whole == "variable-length":
        ap.error(f"--whole-experiment takes one of {', '.join(k for k in EXPERIMENTS if k != 'variable-length')} or none")
    rounds = {"ours": [], "whole": []} | {f"{d}-{c}": [] for d, c in TORCH_RUNS}
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}: ours", flush=True)
            rounds["ours"].append(run_ours(args, experiments, grid, os.path.join(tmp, f"ours{r}.json")))
            for dtype, cell in TORCH_RUNS:
                print(f"round {r + 1}/{args.rounds}: pytorch {dtype} {cell}", flush=True)
                rounds[f"{dtype}-{cell}"].append(run_torch(args, dtype, cell, experiments, grid, os.path.join(tmp, f"{dtype}-{cell}{r}.json")))
            if whole:
                print(f"round {r + 1}/{args.rounds}: whole processes, {whole}", flush=True)
                rounds["whole"].append(run_whole(args, whole))

    med = statistics.median
    t64 = rounds["float64-lstm"][0]
    machine = rounds["ours"][0]["machine"]
    print()
    print(f"machine: {machine['processorCount']} cores, {machine['os']}; ours: {machine['runtime']}, Vector512 {machine['vector512']}")
    print(f"pytorch {t64['torch']}, BLAS {t64['blas'].get('openblasConfig', t64['blas']['libraries'])}; "
          f"env removed for pytorch: {t64['removedEnv'] or 'none'}")
    print(f"{args.rounds} alternating round(s) x {args.repeats} repeat(s), medians; wall {time.time() - started:.0f} s")

    rows = {"experiments": [], "grid": []}
    if experiments:
        print()
        print("(best f64: the faster of nn.LSTM and the hand-written cell in float64, per workload)")
        print()
        print("| experiment | ours µs/step | PyTorch nn.LSTM f64 µs/step | nn.LSTM f32 | hand cell f64 | best f64 / ours | nn.LSTM f32 / ours | ours train s | best f64 train s (projected) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in experiments:
            ours = med([next(e for e in o["experiments"] if e["id"] == name)["microsecondsPerStep"] for o in rounds["ours"]])
            ours_s = med([next(e for e in o["experiments"] if e["id"] == name)["trainSeconds"] for o in rounds["ours"]])
            f64, f32, hand = (med([t["experiments"][name]["usPerStep"] for t in rounds[k]]) for k in ("float64-lstm", "float32-lstm", "float64-hand"))
            best_key = "float64-hand" if hand < f64 else "float64-lstm"
            best = min(f64, hand)
            best_s = med([t["experiments"][name]["projectedTrainSeconds"] for t in rounds[best_key]])
            rows["experiments"].append({"id": name, "ours": ours, "float64": f64, "float32": f32, "float64Hand": hand, "oursTrainSeconds": ours_s})
            print(f"| {name} | {ours:.2f} | {f64:.1f} | {f32:.1f} | {hand:.1f} | {best / ours:.1f}× | {f32 / ours:.1f}× | {ours_s:.2f} | {best_s:.0f} |")
    if grid:
        print()
        print("| I, H, B, T | ours steps/s | PyTorch nn.LSTM f64 steps/s | nn.LSTM f32 | hand cell f64 | ours / best f64 | ours / nn.LSTM f32 | ours bytes/step |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for k, shape in enumerate(grid):
            key = list(shape)
            pick = lambda o: next(g for g in o["grid"] if [g["inputs"], g["units"], g["batch"], g["timeSteps"]] == key)
            ours = med([pick(o)["stepsPerSecond"] for o in rounds["ours"]])
            alloc = med([pick(o)["bytesPerStep"] for o in rounds["ours"]])
            f64, f32, hand = (med([t["grid"][k]["stepsPerSecond"] for t in rounds[key_]]) for key_ in ("float64-lstm", "float32-lstm", "float64-hand"))
            rows["grid"].append({"shape": key, "ours": ours, "float64": f64, "float32": f32, "float64Hand": hand, "oursBytesPerStep": alloc})
            print(f"| {', '.join(map(str, shape))} | {ours:,.1f} | {f64:,.1f} | {f32:,.1f} | {hand:,.1f} | {ours / max(f64, hand):.2f}× | {ours / f32:.2f}× | {alloc:.0f} |")
        print_float32(grid, rounds, rows, args)
    if whole:
        print()
        print(f"| whole fresh process, `experiment {whole}` | ours s | PyTorch nn.LSTM f64 script s | hand cell f64 script s | faster PyTorch / ours |")
        print("|---|---:|---:|---:|---:|")
        ours, f64, hand = (med([w[k] for w in rounds["whole"]]) for k in ("ours", "float64-lstm", "float64-hand"))
        rows["whole"] = {"experiment": whole, "ours": ours, "float64": f64, "float64Hand": hand}
        print(f"| {whole}, full settings, start-up included | {ours:.2f} | {f64:.2f} | {hand:.2f} | {min(f64, hand) / ours:.1f}× |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": rows, "rounds": rounds}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
