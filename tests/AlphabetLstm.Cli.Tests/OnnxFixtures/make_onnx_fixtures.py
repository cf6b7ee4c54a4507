"""ONNX fixtures for the import tests, made once with PyTorch's own exporter.

Run:  /usr/bin/python3 make_onnx_fixtures.py     (Debian: apt-get install python3-torch python3-onnx)
The tests read the committed files and never need PyTorch.

For each case NAME it writes NAME.onnx, torch.onnx.export of nn.LSTM(batch_first=True) + nn.Linear
(+ softmax when asked) with the initial state h0, c0 as graph inputs, and NAME.json: the inputs x
[batch][time][feature], h0 and c0 [batch][unit], and PyTorch's outputs for them: the softmax of the
dense layer on the last step [batch][class] and the final h, c [batch][unit], computed by the same modules in float64 (the
weights are float32 values, so the file's weights and the reference's are the same numbers), and
under "float32" the same outputs from PyTorch's own float32 run.

A case with layers = N > 1 exports nn.LSTM(num_layers=N): its graph inputs h0, c0 are [batch][N·H],
each layer's H units side by side (the library's stacked state), reshaped to PyTorch's
(N, batch, H) inside the graph; the JSON's h0, c0, h and c use the same [batch][N·H] layout.

It also writes graphs the importer must refuse: a GRU and a bidirectional LSTM.

One case alone:  /usr/bin/python3 -c 'import make_onnx_fixtures as m; m.case("torch_two_layers", I=3, ...)'
"""
import json
import numpy as np
import torch
import onnx


class Net(torch.nn.Module):
    def __init__(self, rnn, dense, softmax):
        super().__init__()
        self.rnn, self.dense, self.softmax = rnn, dense, softmax

    def forward(self, x, h0, c0):
        L, H = self.rnn.num_layers, self.rnn.hidden_size
        out, _ = self.rnn(x, (layered(h0, L, H), layered(c0, L, H)))
        y = self.dense(out[:, -1, :])
        return torch.softmax(y, dim=-1) if self.softmax else y


def layered(s, L, H):
    """[batch, L·H] (each layer's H side by side) as PyTorch's (L, batch, H)."""
    return s.reshape(s.shape[0], L, H).transpose(0, 1).contiguous()


def side_by_side(s):
    """PyTorch's (L, batch, H) as [batch, L·H]."""
    return s.transpose(0, 1).reshape(s.shape[1], -1)


def export(name, net, args, opset, dynamic_batch, dynamic_time):
    axes = {"x": {0: "batch"}, "h0": {0: "batch"}, "c0": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None
    if dynamic_time:
        axes["x"][1] = "time"
    torch.onnx.export(net, args, name + ".onnx", input_names=["x", "h0", "c0"], output_names=["y"],
                      opset_version=opset, dynamic_axes=axes)
    onnx.checker.check_model(onnx.load(name + ".onnx"))


def case(name, I, H, V, T, B, softmax, opset, dynamic_batch, seed, dynamic_time=False, layers=1):
    torch.manual_seed(seed)
    rs = np.random.RandomState(seed)
    lstm = torch.nn.LSTM(I, H, num_layers=layers, batch_first=True)
    dense = torch.nn.Linear(H, V)
    with torch.no_grad():   # weights wider than PyTorch's default init, so the test sees real numbers
        for p in list(lstm.parameters()) + list(dense.parameters()):
            p.copy_(torch.from_numpy(rs.uniform(-0.9, 0.9, size=tuple(p.shape)).astype(np.float32)))
    net = Net(lstm, dense, softmax).eval()
    x = rs.uniform(-1, 1, size=(B, T, I)).astype(np.float32)
    h0 = rs.uniform(-0.8, 0.8, size=(B, layers * H)).astype(np.float32)
    c0 = rs.uniform(-0.8, 0.8, size=(B, layers * H)).astype(np.float32)
    export(name, net, (torch.from_numpy(x), torch.from_numpy(h0), torch.from_numpy(c0)), opset, dynamic_batch, dynamic_time)
    with torch.no_grad():   # PyTorch's float32 run, as the exported model computes it
        out32, (h32, c32) = lstm(torch.from_numpy(x), (layered(torch.from_numpy(h0), layers, H), layered(torch.from_numpy(c0), layers, H)))
        probs32 = torch.softmax(dense(out32[:, -1, :]), dim=-1)
    d = lambda a: torch.from_numpy(a.astype(np.float64))
    with torch.no_grad():
        lstm64, dense64 = lstm.double(), dense.double()
        out, (hT, cT) = lstm64(d(x), (layered(d(h0), layers, H), layered(d(c0), layers, H)))
        probs = torch.softmax(dense64(out[:, -1, :]), dim=-1)
    expected = {"shape": {"inputs": I, "units": H, "classes": V, "timeSteps": T, "batch": B, "softmax": softmax, "opset": opset,
                         "dynamicTime": dynamic_time, "layers": layers},
                "x": x.astype(np.float64).tolist(), "h0": h0.astype(np.float64).tolist(), "c0": c0.astype(np.float64).tolist(),
                "probabilities": probs.numpy().tolist(), "h": side_by_side(hT).numpy().tolist(), "c": side_by_side(cT).numpy().tolist(),
                "float32": {"probabilities": probs32.numpy().astype(np.float64).tolist(),
                            "h": side_by_side(h32).numpy().astype(np.float64).tolist(),
                            "c": side_by_side(c32).numpy().astype(np.float64).tolist()}}
    with open(name + ".json", "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def refused(name, rnn, I, H, V, T, B, opset=14):
    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.dense = rnn, torch.nn.Linear(H * (2 if rnn.bidirectional else 1), V)

        def forward(self, x):
            out, _ = self.rnn(x)
            return torch.softmax(self.dense(out[:, -1, :]), dim=-1)

    torch.manual_seed(7)
    x = torch.rand(B, T, I)
    torch.onnx.export(Plain().eval(), (x,), name + ".onnx", input_names=["x"], output_names=["y"], opset_version=opset)
    onnx.checker.check_model(onnx.load(name + ".onnx"))


if __name__ == "__main__":
    # one letter per step over the alphabet (I = 1, T = 1, V = 26): `generate` and `predict` work on it
    case("torch_alphabet", I=1, H=4, V=26, T=1, B=2, softmax=True, opset=14, dynamic_batch=True, seed=11)
    case("torch_logits", I=5, H=3, V=5, T=4, B=3, softmax=False, opset=14, dynamic_batch=False, seed=12)
    case("torch_opset11", I=2, H=6, V=7, T=5, B=1, softmax=True, opset=11, dynamic_batch=True, seed=13)
    # the time axis dynamic too: the importer needs --time-steps
    case("torch_dynamic_time", I=3, H=2, V=4, T=2, B=2, softmax=True, opset=17, dynamic_batch=True, seed=14, dynamic_time=True)
    refused("torch_gru", torch.nn.GRU(2, 3, batch_first=True), 2, 3, 4, 3, 1)
    refused("torch_bidirectional", torch.nn.LSTM(2, 3, batch_first=True, bidirectional=True), 2, 3, 4, 3, 1)
    # nn.LSTM(num_layers=2): one ONNX LSTM node per layer, the second reading the first's Y
    case("torch_two_layers", I=3, H=5, V=6, T=4, B=2, softmax=True, opset=14, dynamic_batch=True, seed=15, layers=2)
