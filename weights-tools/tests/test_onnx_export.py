"""export_onnx.py: the graphs are valid ONNX (onnx.checker, full shape inference), declare the manifest's input and
output shapes, and compute what torch computes: single ops, the UNet step and the decoder are run by a small float64
numpy interpreter of the ONNX ops they use (onnx 1.12 has no onnx.reference and there is no onnxruntime here). The
model exports carry the safetensors weights under the model's own state-dict names."""

import json
import os
import sys
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import export_onnx as E  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

SMALL = [("matmul", dict(m=3, k=5, n=4)), ("linear", dict(m=7, k=5, n=6)),
         ("conv2d3x3", dict(n=2, c=3, h=5, w=6, o=4)), ("groupnorm_silu", dict(n=2, c=8, h=3, w=5, g=4)),
         ("attention", dict(b=2, heads=3, l=6, s=5, d=4)), ("layernorm", dict(m=3, c=16))]


# ---------------------------------------------------------------- a numpy interpreter for the single-op graphs

def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, a):
    assert a.get("group", 1) == 1 and all(d == 1 for d in a.get("dilations", [1, 1]))
    sh, sw = a.get("strides", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    o, _, kh, kw = w.shape
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], o, ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y + (0 if b is None else b.reshape(1, -1, 1, 1))


def _norm(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _resize_nearest(x, scales, a):
    # The exporter's nearest upsampling: integer scales, asymmetric coordinates, floor → plain repetition.
    assert a.get("mode", b"nearest") in (b"nearest", "nearest")
    for axis, f in enumerate(scales):
        assert float(f).is_integer(), scales
        if f != 1:
            x = np.repeat(x, int(f), axis=axis)
    return x


def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[int(ax)] = slice(int(s), int(min(max(e, -2**62), 2**62)), int(st))
    return x[tuple(index)]


def _float(v):
    return v.astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v


def run_graph(model, feeds: dict) -> list:
    env = {i.name: _float(numpy_helper.to_array(i)) for i in model.graph.initializer}
    env.update({k: _float(v) for k, v in feeds.items()})
    binary = {"Add": np.add, "Mul": np.multiply, "Sub": np.subtract, "Div": np.divide, "Pow": np.power,
              "Equal": np.equal}
    unary = {"Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Sin": np.sin, "Cos": np.cos, "Exp": np.exp,
             "Sqrt": np.sqrt, "Neg": np.negative, "Identity": lambda v: v,
             "Erf": lambda v: torch.special.erf(torch.from_numpy(v)).numpy()}
    for node in model.graph.node:
        a, x = _attrs(node), [env[n] if n else None for n in node.input]
        t = node.op_type
        ys = None
        if t == "Constant":
            y = _float(numpy_helper.to_array(a["value"]))
        elif t in binary:
            y = binary[t](x[0], x[1])
        elif t in unary:
            y = unary[t](x[0])
        elif t == "MatMul":
            y = x[0] @ x[1]
        elif t == "Gemm":
            A = x[0].T if a.get("transA", 0) else x[0]
            B = x[1].T if a.get("transB", 0) else x[1]
            y = a.get("alpha", 1.0) * A @ B + (a.get("beta", 1.0) * x[2] if len(x) > 2 else 0)
        elif t == "Conv":
            y = _conv(x[0], x[1], x[2] if len(x) > 2 else None, a)
        elif t == "Reshape":
            shape = [int(d) for d in x[1]]
            shape = [x[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
            y = x[0].reshape(shape)
        elif t == "Shape":
            y = np.array(x[0].shape, dtype=np.int64)
        elif t == "InstanceNormalization":
            y = _norm(x[0], tuple(range(2, x[0].ndim)), a.get("epsilon", 1e-5))
            bshape = (1, -1) + (1,) * (x[0].ndim - 2)
            y = y * x[1].reshape(bshape) + x[2].reshape(bshape)
        elif t == "LayerNormalization":
            axis = a.get("axis", -1) % x[0].ndim
            y = _norm(x[0], tuple(range(axis, x[0].ndim)), a.get("epsilon", 1e-5)) * x[1] + x[2]
        elif t == "Transpose":
            y = np.transpose(x[0], a.get("perm"))
        elif t == "Softmax":
            e = np.exp(x[0] - x[0].max(axis=a.get("axis", -1), keepdims=True))
            y = e / e.sum(axis=a.get("axis", -1), keepdims=True)
        elif t == "Unsqueeze":
            y = x[0]
            for ax in sorted(int(v) % (y.ndim + len(x[1])) for v in x[1]):
                y = np.expand_dims(y, ax)
        elif t == "Concat":
            y = np.concatenate(x, axis=a["axis"])
        elif t == "Gather":
            y = np.take(x[0], x[1].astype(np.int64), axis=a.get("axis", 0))
        elif t == "Slice":
            y = _slice(x[0], *[None if v is None else [int(i) for i in v] for v in x[1:]])
        elif t == "Split":
            axis = a.get("axis", 0)
            sizes = [int(v) for v in x[1]] if len(x) > 1 and x[1] is not None else \
                [x[0].shape[axis] // len(node.output)] * len(node.output)
            ys = np.split(x[0], np.cumsum(sizes)[:-1], axis=axis)
        elif t == "Where":
            y = np.where(x[0], x[1], x[2])
        elif t == "Expand":
            y = np.broadcast_to(x[0], np.broadcast_shapes(x[0].shape, tuple(int(d) for d in x[1]))).copy()
        elif t == "ConstantOfShape":
            value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            y = _float(np.full([int(d) for d in x[0]], value[0], dtype=value.dtype))
        elif t == "Cast":
            y = _float(x[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]]))
        elif t == "Resize":
            y = _resize_nearest(x[0], x[2], a)
        else:
            raise NotImplementedError(f"the test interpreter has no {t}")
        for name, value in zip(node.output, ys if ys is not None else [y]):
            env[name] = value
    return [env[o.name] for o in model.graph.output]


def _dims(value_info):
    return [d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _check_declared(model, entry):
    assert [i.name for i in model.graph.input] == [i["name"] for i in entry["inputs"]]
    assert [_dims(i) for i in model.graph.input] == [i["shape"] for i in entry["inputs"]]
    assert [_dims(o) for o in model.graph.output] == [o["shape"] for o in entry["outputs"]]


# ---------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def ops_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ops"))
    E.export_ops(out, SMALL, seed=3)
    return out


def test_manifest_lists_every_op(ops_dir):
    man = json.load(open(os.path.join(ops_dir, "manifest.json")))
    assert man["opset"] == 17
    assert [(e["op"], e["shape"]) for e in man["ops"]] == SMALL
    assert [e["file"] for e in man["ops"]] == [E.op_file_name(op, s) for op, s in SMALL]
    assert E.op_file_name("conv2d3x3", dict(n=1, c=320, h=64, w=64, o=320)) == "conv2d3x3_n1_c320_h64_w64_o320.onnx"
    conv = man["ops"][2]
    assert conv["flops"] == 2 * 2 * 4 * 5 * 6 * 3 * 9 and conv["parameters"] == 4 * 3 * 9 + 4


@pytest.mark.parametrize("index", range(len(SMALL)))
def test_single_op_graph_matches_torch(ops_dir, index):
    entry = json.load(open(os.path.join(ops_dir, "manifest.json")))["ops"][index]
    model = onnx.load(os.path.join(ops_dir, entry["file"]))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    _check_declared(model, entry)
    # Rebuild the same module (same seed) and compare on fresh inputs, not those used for tracing.
    torch.manual_seed(entry["seed"])
    module, _ = E.OPS[entry["op"]][1](entry["shape"])
    if entry["op"] in ("groupnorm_silu", "layernorm"):  # the norms carry random scale and shift, not 1 / 0
        assert all((p.detach() - p.detach().mean()).abs().max() > 0.1 for p in module.parameters())
    module.eval()
    rng = np.random.default_rng(index)
    feeds = {i["name"]: rng.standard_normal(i["shape"]).astype(np.float32) for i in entry["inputs"]}
    with torch.no_grad():
        want = module(*(torch.from_numpy(v) for v in feeds.values())).double().numpy()
    got = run_graph(model, feeds)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_interpreter_sees_a_wrong_graph(ops_dir):
    # The comparison can fail: a conv graph with one weight changed no longer matches.
    entry = json.load(open(os.path.join(ops_dir, "manifest.json")))["ops"][2]
    model = onnx.load(os.path.join(ops_dir, entry["file"]))
    w = next(i for i in model.graph.initializer if i.name == "weight")
    arr = numpy_helper.to_array(w).copy()
    arr[0, 0, 1, 1] += 0.5
    w.CopyFrom(numpy_helper.from_array(arr, "weight"))
    torch.manual_seed(entry["seed"])
    module, _ = E.OPS["conv2d3x3"][1](entry["shape"])
    x = np.random.default_rng(0).standard_normal(entry["inputs"][0]["shape"]).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    assert np.abs(run_graph(model, {"x": x})[0] - want).max() > 1e-2


def test_model_exports_with_safetensors_weights(tmp_path):
    from flap_ref.config import load_config
    from flap_ref.model import FlapModel
    from flap_ref.safetensors import save_file

    torch.manual_seed(11)
    model = FlapModel(load_config("test"))
    with torch.no_grad():  # move every weight off its init so a silently ignored file would show
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    state = model.state_dict()
    path = str(tmp_path / "flap.safetensors")
    save_file(state, path)
    out = str(tmp_path / "onnx")
    man = E.export_model("test", out, weights=path, frames=2)
    assert [e["part"] for e in man["models"]] == ["unet_step", "decoder"]
    for entry in man["models"]:
        g = onnx.load(os.path.join(out, entry["file"]))
        onnx.checker.check_model(g, full_check=True)
        _check_declared(g, entry)
        inits = {i.name: numpy_helper.to_array(i) for i in g.graph.initializer}
        # The graph's weights are the file's, under the model's own state-dict names.
        for name in ("unet.conv_in.weight", "unet.conv_out.bias") if entry["part"] == "unet_step" \
                else ("autoencoder.decoder.conv_in.weight", "autoencoder.decoder.conv_out.weight"):
            np.testing.assert_array_equal(inits[name], state[name].numpy())
    step = man["models"][0]
    names = [i["name"] for i in step["inputs"]]
    keys = [n[len("ref."):] for n in names if n.startswith("ref.")]
    assert names[:4] == ["sample", "timesteps", "pose_tokens", "expr_tokens"]
    assert keys == model.unet.attention_keys()
    assert step["outputs"][0]["shape"] == [2, 4, 8, 8]
    assert man["models"][1]["outputs"][0]["shape"] == [1, 3, 64, 64]

    # Both graphs compute what the reference computes, on fresh inputs (not the traced ones).
    rng = np.random.default_rng(5)
    feeds = {i["name"]: (np.array([17, 17]) if i["name"] == "timesteps" else
                         rng.standard_normal(i["shape"]).astype(np.float32)) for i in step["inputs"]}
    model.eval()
    torch_step = E.UNetStep(model.unet, keys, 2)
    with torch.no_grad():
        want = torch_step(*(torch.from_numpy(v) for v in feeds.values())).double().numpy()
    got = run_graph(onnx.load(os.path.join(out, step["file"])), feeds)[0]
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    z = rng.standard_normal(man["models"][1]["inputs"][0]["shape"]).astype(np.float32)
    with torch.no_grad():
        want = model.autoencoder.decode(torch.from_numpy(z)).double().numpy()
    got = run_graph(onnx.load(os.path.join(out, man["models"][1]["file"])), {"latent": z})[0]
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_model_export_refuses_mismatched_weights(tmp_path):
    from flap_ref.safetensors import save_file
    path = str(tmp_path / "bad.safetensors")
    save_file({"autoencoder.decoder.conv_in.weight": torch.zeros(1)}, path)
    with pytest.raises(KeyError, match="autoencoder"):
        E.export_model("test", str(tmp_path), weights=path, parts=("decoder",))


def test_guided_unet_step_takes_the_guide_images(tmp_path):
    # A config with a geometry guide (as mini has): the step graph takes `guide` [F, 3, S, S] after the tokens,
    # and its guide encoder's work is in the graph (a non-zero conv_out, so the guide changes eps).
    from flap_ref.config import load_config
    from flap_ref.model import FlapModel
    from flap_ref.safetensors import save_file

    cfg = load_config("test")
    cfg["unet"]["guide"] = {"size": 16, "supersample": 2, "channels": [4, 8], "palette": [[0.5, 0.5, 0.5]]}
    path = str(tmp_path / "guided.json")
    json.dump(cfg, open(path, "w"))
    torch.manual_seed(12)
    model = FlapModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    weights = str(tmp_path / "guided.safetensors")
    save_file(model.state_dict(), weights)
    out = str(tmp_path / "onnx")
    step = E.export_model(path, out, weights=weights, frames=2, parts=("unet_step",))["models"][0]
    names = [i["name"] for i in step["inputs"]]
    assert names[:5] == ["sample", "timesteps", "pose_tokens", "expr_tokens", "guide"]
    assert step["inputs"][4]["shape"] == [2, 3, 16, 16]
    assert [n[len("ref."):] for n in names[5:]] == model.unet.attention_keys()
    graph = onnx.load(os.path.join(out, step["file"]))
    onnx.checker.check_model(graph, full_check=True)
    _check_declared(graph, step)

    rng = np.random.default_rng(6)
    feeds = {i["name"]: (np.array([17, 17]) if i["name"] == "timesteps" else
                         rng.random(i["shape"]).astype(np.float32) if i["name"] == "guide" else
                         rng.standard_normal(i["shape"]).astype(np.float32)) for i in step["inputs"]}
    model.eval()
    torch_step = E.UNetStep(model.unet, model.unet.attention_keys(), 2)
    with torch.no_grad():
        want = torch_step(*(torch.from_numpy(v) for v in feeds.values())).double().numpy()
        unguided = dict(feeds, guide=np.zeros_like(feeds["guide"]))
        other = torch_step(*(torch.from_numpy(v) for v in unguided.values())).double().numpy()
    assert np.abs(want - other).max() > 1e-4  # the guide input is used
    got = run_graph(graph, feeds)[0]
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
