"""safetensors, our own reader and writer, following the format exactly: an unsigned little-endian 64-bit
header length N, N bytes of JSON (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str:
str}}`, padded with spaces to a multiple of 8), then the tensors' bytes, contiguous, in header order.
Files written here load in src/weights/safetensors.ts and the other way round."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.bool:
        return t.numpy().astype(np.uint8).tobytes()
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def save_file(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str] | None = None) -> None:
    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("__metadata__ must map strings to strings")
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, t in tensors.items():
        if t.dtype not in NAMES:
            raise SafetensorsError(f"{name}: dtype {t.dtype} has no safetensors name")
        data = _bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def _header(buf: bytes, where: str) -> tuple[dict, int]:
    if len(buf) < 8:
        raise SafetensorsError(f"{where}: {len(buf)} bytes cannot hold the 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER or 8 + n > len(buf):
        raise SafetensorsError(f"{where}: header length {n} exceeds the file ({len(buf)} bytes) or the cap")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{where}: header is not UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{where}: header is not a JSON object")
    return header, 8 + n


def _entries(header: dict, data_len: int, where: str) -> dict[str, tuple[int, int, torch.dtype, list[int]]]:
    """Checks a parsed header against the data length: {name: (begin, end, dtype, shape)} in header order."""
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise SafetensorsError(f"{where}: __metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise SafetensorsError(f"{where}: {name}: entry needs dtype, shape and data_offsets, got {info!r}")
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise SafetensorsError(f"{where}: {name}: unknown dtype {info['dtype']!r}")
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise SafetensorsError(f"{where}: {name}: shape {shape!r} is not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise SafetensorsError(f"{where}: {name}: data_offsets {offsets!r} is not a pair of integers")
        entries.append((offsets[0], offsets[1], name, dtype, shape))
    # The format does not tie header order to data order; the data must still be covered exactly once.
    expect = 0
    for begin, end, name, dtype, shape in sorted(entries, key=lambda e: (e[0], e[1])):
        size = torch.empty((), dtype=dtype).element_size() * int(np.prod(shape, dtype=np.int64))
        if begin != expect or end - begin != size or end > data_len:
            raise SafetensorsError(f"{where}: {name}: data_offsets {[begin, end]} do not follow the previous tensor "
                                   f"(at {expect}), match {size} bytes, or fit the data ({data_len} bytes)")
        expect = end
    if expect != data_len:
        raise SafetensorsError(f"{where}: {data_len - expect} bytes after the last tensor")
    return {name: (begin, end, dtype, shape) for begin, end, name, dtype, shape in entries}


def _tensor(raw: bytearray, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    if dtype == torch.bool:
        t = torch.frombuffer(raw, dtype=torch.uint8).to(torch.bool) if raw else torch.empty(0, dtype=torch.bool)
    else:
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
    return t.reshape(shape)


def load_file(path: str) -> dict[str, torch.Tensor]:
    with open(path, "rb") as f:
        buf = f.read()
    header, start = _header(buf, path)
    entries = _entries(header, len(buf) - start, path)
    order = sorted(entries, key=lambda n: entries[n][:2])
    return {name: _tensor(bytearray(buf[start + entries[name][0]:start + entries[name][1]]), *entries[name][2:])
            for name in order}


class SafetensorsFile:
    """A file opened for reading tensor by tensor (checked like load_file, but only the header is read up front):
    a converter can stream a multi-gigabyte checkpoint without holding it whole."""

    def __init__(self, path: str):
        self.path = path
        self._f = open(path, "rb")
        try:
            head = self._f.read(8)
            (n,) = struct.unpack("<Q", head) if len(head) == 8 else (0,)
            header, self._start = _header(head + self._f.read(min(n, MAX_HEADER)), path)
            size = os.fstat(self._f.fileno()).st_size
            self._entries = _entries(header, size - self._start, path)
            self.metadata: dict[str, str] = header.get("__metadata__", {})
        except BaseException:
            self._f.close()
            raise

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._entries[name][3])

    def dtype(self, name: str) -> torch.dtype:
        return self._entries[name][2]

    def tensor(self, name: str) -> torch.Tensor:
        begin, end, dtype, shape = self._entries[name]
        self._f.seek(self._start + begin)
        raw = bytearray(end - begin)
        if self._f.readinto(raw) != len(raw):
            raise SafetensorsError(f"{self.path}: {name}: file ended early")
        return _tensor(raw, dtype, shape)

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def save_streaming(path: str, specs: list[tuple[str, torch.dtype, tuple[int, ...]]], produce,
                   metadata: dict[str, str] | None = None) -> int:
    """Writes a file whose header is known before its data: `specs` lists (name, dtype, shape) in file order and
    `produce(name)` returns each tensor only when its turn comes (checked against its spec), so at most one tensor
    is held. Returns the number of data bytes (what a sharded index counts as total_size)."""
    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("__metadata__ must map strings to strings")
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape in specs:
        if dtype not in NAMES:
            raise SafetensorsError(f"{name}: dtype {dtype} has no safetensors name")
        size = torch.empty((), dtype=dtype).element_size() * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, dtype, shape in specs:
            t = produce(name)
            if t.dtype != dtype or tuple(t.shape) != tuple(shape):
                raise SafetensorsError(f"{name}: produced {t.dtype} {tuple(t.shape)}, header says {dtype} {tuple(shape)}")
            f.write(_bytes(t))
    os.replace(tmp, path)
    return offset


def read_metadata(path: str) -> dict[str, str]:
    with open(path, "rb") as f:
        head = f.read(8)
        (n,) = struct.unpack("<Q", head) if len(head) == 8 else (0,)
        header, _ = _header(head + f.read(min(n, MAX_HEADER)), path)
    return header.get("__metadata__", {})
