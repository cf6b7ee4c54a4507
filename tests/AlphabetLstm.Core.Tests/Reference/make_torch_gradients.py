"""Gradients for the reference-cell tests, computed once with PyTorch (float64): the companion of
make_torch_reference.py, which gives the forward pass only.

Run:  /usr/bin/python3 make_torch_gradients.py      (Debian: apt-get install python3-torch)
Writes torch_gradients.json; the test suite reads it and never needs PyTorch.

One LSTM(H) + Dense(V) with softmax and the mean categorical cross-entropy, on one batch:
  - "unmasked": torch.nn.LSTM from a non-zero (h0, c0);
  - "masked": torch.nn.LSTMCell step by step, each sample pre-padded (its last `lengths[b]` of T
    steps are real; a padded step keeps h and c), as Keras' Masking layer does;
  - "training": five full-batch steps of Keras' Adam (lr_t = lr·sqrt(1 − β2^t)/(1 − β1^t),
    θ ← θ − lr_t·m/(sqrt(v) + ε)) on the masked batch from the zero state: the loss before each
    step, and the weights after the last.
Every gradient is given in Keras' layout, as the model file holds the weights: PyTorch's gate order
i, f, g, o is Keras' i, f, c, o; kernel = weight_ih.T, recurrentKernel = weight_hh.T, bias =
bias_ih + bias_hh (bias_hh is held at zero, so d bias = d bias_ih), dense kernel = Linear.weight.T.
"""
import json
import numpy as np
import torch

I, H, V, T, B = 3, 4, 5, 4, 3
LENGTHS = [4, 2, 1]
LR, BETA1, BETA2, EPS, STEPS = 0.01, 0.9, 0.999, 1e-7, 5
rs = np.random.RandomState(20261204)
u = lambda *shape: rs.uniform(-0.9, 0.9, size=shape)

weights = {"kernel": u(I, 4 * H), "recurrentKernel": u(H, 4 * H), "bias": u(4 * H),
           "denseKernel": u(H, V), "denseBias": u(V)}
x = u(B, T, I)
h0, c0 = u(B, H), u(B, H)
labels = rs.randint(0, V, size=B)
targets = np.eye(V)[labels]


def module_weights(w, weight_ih, weight_hh, bias_ih, bias_hh):
    """Copies Keras-layout weights into a PyTorch LSTM's parameters (bias_hh held at zero)."""
    with torch.no_grad():
        weight_ih.copy_(torch.from_numpy(w["kernel"].T))
        weight_hh.copy_(torch.from_numpy(w["recurrentKernel"].T))
        bias_ih.copy_(torch.from_numpy(w["bias"]))
        bias_hh.zero_()


def run(w, h0, c0, mask):
    """The model on the batch from (h0, c0): loss, softmax, final (h, c), and every gradient in
    Keras' layout. Unmasked through torch.nn.LSTM; masked through torch.nn.LSTMCell step by step."""
    dense = torch.nn.Linear(H, V).double()
    with torch.no_grad():
        dense.weight.copy_(torch.from_numpy(w["denseKernel"].T))
        dense.bias.copy_(torch.from_numpy(w["denseBias"]))
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    xs = torch.from_numpy(x)
    if mask:
        module = torch.nn.LSTMCell(I, H).double()
        params = (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)
        module_weights(w, *params)
        h, c = h0t, c0t
        for t in range(T):
            real = torch.tensor([t >= T - n for n in LENGTHS])[:, None]
            h2, c2 = module(xs[:, t, :], (h, c))
            h, c = torch.where(real, h2, h), torch.where(real, c2, c)
        last, hT, cT = h, h, c
    else:
        module = torch.nn.LSTM(I, H, batch_first=True).double()
        params = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)
        module_weights(w, *params)
        out, (hT, cT) = module(xs, (h0t[None], c0t[None]))
        last, hT, cT = out[:, -1, :], hT[0], cT[0]
    logits = dense(last)
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels), reduction="mean")
    loss.backward()
    n = lambda a: a.detach().numpy()
    grads = {"kernel": n(params[0].grad).T, "recurrentKernel": n(params[1].grad).T, "bias": n(params[2].grad),
             "denseKernel": n(dense.weight.grad).T, "denseBias": n(dense.bias.grad)}
    return loss.item(), n(torch.softmax(logits, dim=-1)), n(hT), n(cT), grads, n(h0t.grad), n(c0t.grad)


def case(mask):
    loss, probs, hT, cT, grads, dh0, dc0 = run(weights, h0, c0, mask)
    result = {"loss": loss, "probabilities": probs.tolist(), "h": hT.tolist(), "c": cT.tolist(),
              "dh0": dh0.tolist(), "dc0": dc0.tolist()}
    result.update({"d" + k[0].upper() + k[1:]: v.tolist() for k, v in grads.items()})
    return result


def training():
    theta = {k: v.copy() for k, v in weights.items()}
    m = {k: np.zeros_like(v) for k, v in theta.items()}
    v2 = {k: np.zeros_like(v) for k, v in theta.items()}
    zeros = np.zeros((B, H))
    losses = []
    for step in range(1, STEPS + 1):
        loss, _, _, _, grads, _, _ = run(theta, zeros, zeros, True)
        losses.append(loss)
        lr_t = LR * np.sqrt(1 - BETA2 ** step) / (1 - BETA1 ** step)
        for k in theta:
            g = grads[k]
            m[k] = BETA1 * m[k] + (1 - BETA1) * g
            v2[k] = BETA2 * v2[k] + (1 - BETA2) * g * g
            theta[k] = theta[k] - lr_t * m[k] / (np.sqrt(v2[k]) + EPS)
    return {"learningRate": LR, "steps": STEPS, "losses": losses,
            "weights": {k: v.tolist() for k, v in theta.items()}}


fixture = {
    "sizes": {"inputs": I, "units": H, "classes": V, "timeSteps": T, "batch": B},
    "weights": {k: v.tolist() for k, v in weights.items()},
    "inputs": x.tolist(), "h0": h0.tolist(), "c0": c0.tolist(), "targets": targets.tolist(),
    "lengths": LENGTHS,
    "unmasked": case(False),
    "masked": case(True),
    "training": training(),
}
# json.dump writes floats with repr: the shortest text that reads back as the same double.
with open("torch_gradients.json", "w") as f:
    json.dump(fixture, f, indent=1)
    f.write("\n")
