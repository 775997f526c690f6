"""Our safetensors reader/writer: exact round trips of every dtype, the byte layout of the format, and a typed
error that names the problem for each kind of malformed file."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from flap_ref.safetensors import (DTYPES, SafetensorsError, SafetensorsFile, load_file, read_metadata, save_file,
                                  save_streaming)


def sample(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 100).to(dtype)
    info = torch.iinfo(dtype)
    return torch.randint(max(info.min, -(2**31)), min(info.max, 2**31 - 1), shape, generator=g).to(dtype)


def write_raw(path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> None:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length) + text + data)


def test_round_trip_every_dtype_and_odd_shapes(tmp_path):
    shapes = [(), (1,), (7,), (3, 5), (2, 1, 3), (0,), (4, 0, 2)]
    tensors = {f"{name}.{i}": sample(dtype, shape, i) for name, dtype in DTYPES.items() for i, shape in enumerate(shapes)}
    path = tmp_path / "all.safetensors"
    save_file(tensors, str(path), {"who": "test", "empty": ""})
    back = load_file(str(path))
    assert list(back) == list(tensors)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape, name
        assert torch.equal(back[name], t), name
    assert read_metadata(str(path)) == {"who": "test", "empty": ""}


def test_layout_little_endian_header_padded_to_8_and_contiguous(tmp_path):
    path = tmp_path / "x.safetensors"
    save_file({"a": torch.tensor([1.0, -2.0], dtype=torch.float32), "b": torch.tensor([258], dtype=torch.int16)}, str(path))
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["a"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert header["b"] == {"dtype": "I16", "shape": [1], "data_offsets": [8, 10]}
    assert raw[8 + n:] == struct.pack("<2f", 1.0, -2.0) + struct.pack("<h", 258)


def test_header_order_need_not_match_data_order(tmp_path):
    path = tmp_path / "x.safetensors"
    data = struct.pack("<f", 1.5) + struct.pack("<f", 2.5)
    write_raw(path, {"second": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                     "first": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, data)
    back = load_file(str(path))
    assert back["first"].item() == 1.5 and back["second"].item() == 2.5


def test_bf16_bits_are_kept_exactly(tmp_path):
    bits = torch.tensor([0x3F80, 0xC000, 0x7F80, 0x0001, 0x7FC0], dtype=torch.int32).to(torch.int16)
    t = bits.view(torch.bfloat16)
    path = tmp_path / "b.safetensors"
    save_file({"t": t}, str(path))
    assert torch.equal(load_file(str(path))["t"].view(torch.int16), bits)


F32_1 = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


@pytest.mark.parametrize("case, header, data, length, message", [
    ("too short", None, b"", None, "cannot hold the 8-byte header length"),
    ("length past end", {"t": F32_1}, b"\0" * 4, 10_000, "exceeds the file"),
    ("length over cap", {"t": F32_1}, b"\0" * 4, 2**40, "exceeds the file"),
    ("not JSON", b"{nope", b"", None, "not UTF-8 JSON"),
    ("not UTF-8", b"\xff\xfe", b"", None, "not UTF-8 JSON"),
    ("not an object", [1, 2], b"", None, "not a JSON object"),
    ("unknown dtype", {"t": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}}, b"\0", None, "unknown dtype"),
    ("missing key", {"t": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, None, "needs dtype, shape and data_offsets"),
    ("negative dim", {"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "shape"),
    ("bad offsets", {"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4, None, "pair of integers"),
    ("size mismatch", {"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, None, "match 8 bytes"),
    ("out of bounds", {"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, None, "fit the data"),
    ("gap", {"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, None, "follow the previous"),
    ("overlap", {"a": F32_1, "b": F32_1}, b"\0" * 4, None, "follow the previous"),
    ("trailing bytes", {"t": F32_1}, b"\0" * 6, None, "2 bytes after the last tensor"),
    ("bad metadata", {"__metadata__": {"k": 1}, "t": F32_1}, b"\0" * 4, None, "__metadata__"),
])
def test_malformed_files_raise_typed_errors(tmp_path, case, header, data, length, message):
    path = tmp_path / "bad.safetensors"
    if header is None:
        path.write_bytes(b"\1\2\3")
    elif isinstance(header, list):
        write_raw(path, json.dumps(header).encode(), data, length)
    else:
        write_raw(path, header, data, length)
    with pytest.raises(SafetensorsError, match=message):
        load_file(str(path))
    if header is not None:
        with pytest.raises(SafetensorsError, match=message):
            SafetensorsFile(str(path))


def test_writer_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(SafetensorsError, match="no safetensors name"):
        save_file({"c": torch.zeros(2, dtype=torch.complex64)}, str(tmp_path / "c.safetensors"))
    with pytest.raises(SafetensorsError, match="strings to strings"):
        save_file({"t": torch.zeros(1)}, str(tmp_path / "m.safetensors"), {"n": 1})


def test_reading_tensor_by_tensor_and_streamed_writing_match_the_whole_file_forms(tmp_path):
    tensors = {f"t{i}": sample(dtype, shape, i) for i, (dtype, shape) in
               enumerate([(torch.float16, (3, 5)), (torch.bfloat16, (7,)), (torch.float32, (0,)), (torch.bool, (2, 2))])}
    whole, streamed = tmp_path / "whole.safetensors", tmp_path / "streamed.safetensors"
    save_file(tensors, str(whole), {"k": "v"})
    produced = []
    size = save_streaming(str(streamed), [(k, v.dtype, tuple(v.shape)) for k, v in tensors.items()],
                          lambda k: produced.append(k) or tensors[k], {"k": "v"})
    assert streamed.read_bytes() == whole.read_bytes()
    assert produced == list(tensors) and size == sum(v.numel() * v.element_size() for v in tensors.values())
    with SafetensorsFile(str(whole)) as f:
        assert f.names == list(tensors) and f.metadata == {"k": "v"}
        for k in reversed(list(tensors)):
            assert f.shape(k) == tuple(tensors[k].shape) and torch.equal(f.tensor(k), tensors[k]), k
    with pytest.raises(SafetensorsError, match=r"t0: produced torch.float32 \(3, 5\)"):
        save_streaming(str(tmp_path / "bad.safetensors"), [("t0", torch.float16, (3, 5))], lambda k: torch.zeros(3, 5))
    assert not (tmp_path / "bad.safetensors").exists()
