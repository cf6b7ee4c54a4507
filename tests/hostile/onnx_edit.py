#!/usr/bin/env python3
"""Damages an ONNX file the way tests/hostile/measure.sh needs, with no ONNX package: the protobuf
wire format is read and rewritten by hand, only along the paths used here.

    onnx_edit.py IN OUT huge-dims     the first rank-3 initializer (W) declares 4·30000 × 30000 numbers
    onnx_edit.py IN OUT squeeze7      Transpose → Squeeze(axis 7) → Unsqueeze after the LSTM node
    onnx_edit.py IN OUT time-steps=N  the metadata's "timeSteps" set to N
    onnx_edit.py IN OUT bidirectional-2   (a stack's export) the second LSTM node made bidirectional
    onnx_edit.py IN OUT units-2=H         (a stack's export) the second LSTM node given H units (zero weights)
"""
import sys

# ModelProto.graph = 7, metadata_props = 14; GraphProto.node = 1, initializer = 5;
# TensorProto.dims = 1, data_type = 2, int64_data = 7, name = 8;
# NodeProto.input = 1, output = 2, name = 3, op_type = 4, attribute = 5;
# AttributeProto.name = 1, ints = 8, type = 20 (INTS = 7); StringStringEntryProto.key = 1, value = 2.


def varint(b, i):
    shift = value = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def enc_varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def fields(b):
    """A message as a list of (field, wire type, raw value: int or bytes)."""
    out, i = [], 0
    while i < len(b):
        key, i = varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((field, wire, v))
    return out


def encode(fs):
    out = bytearray()
    for field, wire, v in fs:
        out += enc_varint(field << 3 | wire)
        if wire == 0:
            out += enc_varint(v)
        elif wire == 2:
            out += enc_varint(len(v)) + v
        else:
            out += v
    return bytes(out)


def lenf(field, payload):
    return (field, 2, payload if isinstance(payload, bytes) else payload.encode())


def ints(field, values):
    return [(field, 0, v) for v in values]


def dims_of(tensor):
    ds = []
    for f, w, v in fields(tensor):
        if f == 1 and w == 0:
            ds.append(v)
        elif f == 1 and w == 2:
            j = 0
            while j < len(v):
                d, j = varint(v, j)
                ds.append(d)
    return ds


def edit_graph(model, change):
    return encode([(f, w, change(v) if f == 7 else v) for f, w, v in fields(model)])


def huge_dims(graph):
    out, done = [], False
    for f, w, v in fields(graph):
        if f == 5 and not done and len(dims_of(v)) == 3:
            rest = [x for x in fields(v) if x[0] != 1]
            v = encode(ints(1, [1, 4 * 30000, 30000]) + rest)
            done = True
        out.append((f, w, v))
    return encode(out)


def squeeze7(graph):
    out = []
    for f, w, v in fields(graph):
        out.append((f, w, v))
        if f == 1 and any(x[0] == 4 and x[2] == b"LSTM" for x in fields(v)):
            node = fields(v)
            outputs = [x for x in node if x[0] == 2]
            y = outputs[0][2] if outputs and outputs[0][2] else b"y_all"
            if not outputs or not outputs[0][2]:
                node = [x for x in node if x[0] != 2] + [lenf(2, y)] + outputs[1:]
                out[-1] = (f, w, encode(node))
            perm = encode([lenf(1, "perm"), (20, 0, 7)] + ints(8, [2, 0, 1, 3]))
            out.append((1, 2, encode([lenf(1, y), lenf(2, "yt"), lenf(3, "t"), lenf(4, "Transpose"), lenf(5, perm)])))
            out.append((1, 2, encode([lenf(1, "yt"), lenf(1, "axis7"), lenf(2, "ys"), lenf(3, "s"), lenf(4, "Squeeze")])))
            out.append((1, 2, encode([lenf(1, "ys"), lenf(1, "axis0"), lenf(2, "yu"), lenf(3, "u"), lenf(4, "Unsqueeze")])))
    for name, axis in ((b"axis7", 7), (b"axis0", 0)):
        out.append((5, 2, encode(ints(1, [1]) + [(2, 0, 7)] + ints(7, [axis]) + [lenf(8, name)])))
    return encode(out)


def time_steps(model, n):
    out = []
    for f, w, v in fields(model):
        if f == 14 and any(x[0] == 1 and x[2] == b"timeSteps" for x in fields(v)):
            v = encode([lenf(1, "timeSteps"), lenf(2, str(n))])
        out.append((f, w, v))
    return encode(out)


def node_named(graph, name, change):
    out = []
    for f, w, v in fields(graph):
        if f == 1 and any(x[0] == 3 and x[2] == name for x in fields(v)):
            v = encode(change(fields(v)))
        out.append((f, w, v))
    return encode(out)


def with_attribute(node, attribute):
    """The node with its attribute of the same name (AttributeProto.name = 1) replaced by `attribute`."""
    name = [x[2] for x in fields(attribute) if x[0] == 1][0]
    keep = [x for x in node if not (x[0] == 5 and any(y[0] == 1 and y[2] == name for y in fields(x[2])))]
    return keep + [(5, 2, attribute)]


def bidirectional_2(graph):
    # AttributeProto.s = 4, type STRING = 3
    return node_named(graph, b"lstm_2", lambda n: with_attribute(n, encode([lenf(1, "direction"), lenf(4, "bidirectional"), (20, 0, 3)])))


def units_2(graph, h):
    """W_2, R_2, B_2 reshaped for h units over the layer below's I = its own H (zeros, as raw_data = 9)
    and hidden_size (AttributeProto.i = 3, type INT = 2) set to h."""
    below = [dims_of(v) for f, w, v in fields(graph) if f == 5 and any(x[0] == 8 and x[2] == b"R" for x in fields(v))][0][2]
    shapes = {b"W_2": [1, 4 * h, below], b"R_2": [1, 4 * h, h], b"B_2": [1, 8 * h]}
    out = []
    for f, w, v in fields(graph):
        names = [x[2] for x in fields(v) if x[0] == 8] if f == 5 else []
        if names and names[0] in shapes:
            ds = shapes[names[0]]
            count = 1
            for d in ds:
                count *= d
            v = encode(ints(1, ds) + [x for x in fields(v) if x[0] not in (1, 4, 9)] + [lenf(9, bytes(4 * count))])
        out.append((f, w, v))
    return node_named(encode(out), b"lstm_2", lambda n: with_attribute(n, encode([lenf(1, "hidden_size"), (3, 0, h), (20, 0, 2)])))


def main():
    source, target, how = sys.argv[1:4]
    data = open(source, "rb").read()
    if how == "huge-dims":
        data = edit_graph(data, huge_dims)
    elif how == "squeeze7":
        data = edit_graph(data, squeeze7)
    elif how == "bidirectional-2":
        data = edit_graph(data, bidirectional_2)
    elif how.startswith("units-2="):
        data = edit_graph(data, lambda g: units_2(g, int(how.split("=", 1)[1])))
    elif how.startswith("time-steps="):
        data = time_steps(data, int(how.split("=", 1)[1]))
    else:
        sys.exit(f"unknown edit {how}")
    open(target, "wb").write(data)


if __name__ == "__main__":
    main()
