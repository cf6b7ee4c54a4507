"""Reference numbers for the model-file golden test, computed once with PyTorch (float64).

Run:  /usr/bin/python3 make_torch_reference.py      (Debian: apt-get install python3-torch)
Writes torch_model.json (our model file format, exported the way the README tells a PyTorch user
to), torch_inputs.json and torch_state.json (for `predict --inputs/--state`) and
torch_expected.json (PyTorch's softmax output and final h, c). The test suite reads the JSON
files; it never needs PyTorch.

Export rule checked here: PyTorch's gate order i, f, g, o is Keras' i, f, c, o, so
kernel = weight_ih_l0.T, recurrentKernel = weight_hh_l0.T, bias = bias_ih_l0 + bias_hh_l0,
dense kernel = Linear.weight.T, dense bias = Linear.bias.
"""
import json
import numpy as np
import torch

I, H, V, T, B = 2, 3, 26, 4, 2
rs = np.random.RandomState(20240604)
u = lambda *shape: rs.uniform(-0.8, 0.8, size=shape)

lstm = torch.nn.LSTM(I, H, batch_first=True).double()
dense = torch.nn.Linear(H, V).double()
with torch.no_grad():
    lstm.weight_ih_l0.copy_(torch.from_numpy(u(4 * H, I)))
    lstm.weight_hh_l0.copy_(torch.from_numpy(u(4 * H, H)))
    lstm.bias_ih_l0.copy_(torch.from_numpy(u(4 * H)))
    lstm.bias_hh_l0.copy_(torch.from_numpy(u(4 * H)))
    dense.weight.copy_(torch.from_numpy(u(V, H)))
    dense.bias.copy_(torch.from_numpy(u(V)))

x = u(B, T, I)
h0, c0 = u(B, H), u(B, H)
with torch.no_grad():
    out, (hT, cT) = lstm(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))
    probs = torch.softmax(dense(out[:, -1, :]), dim=-1)

t = lambda a: a.detach().numpy().tolist()
model = {
    "format": "alphabet-lstm-model", "version": 1,
    "alphabet": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "input": {"timeSteps": T, "features": I, "encoding": "index/26", "masked": False},
    "lstm": {"units": H,
             "kernel": t(lstm.weight_ih_l0.T),
             "recurrentKernel": t(lstm.weight_hh_l0.T),
             "bias": t(lstm.bias_ih_l0 + lstm.bias_hh_l0)},
    "dense": {"units": V, "kernel": t(dense.weight.T), "bias": t(dense.bias)},
}
# json.dumps writes floats with repr: the shortest text that reads back as the same double.
for name, value in [("torch_model.json", model),
                    ("torch_inputs.json", x.tolist()),
                    ("torch_state.json", {"h": h0.tolist(), "c": c0.tolist()}),
                    ("torch_expected.json", {"probabilities": t(probs), "h": t(hT[0]), "c": t(cT[0])})]:
    with open(name, "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")
