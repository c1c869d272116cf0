"""Reads PyTorch .pt zip archives without running the pickle's code and without reading
tensors nobody asks for.

The released TokLIP files are training checkpoints: next to the weights they hold AdamW
moments (3.5 GB) and numpy scalars, so torch.load needs weights_only=False, which executes
whatever the pickle names. Here every pickled global other than containers and tensor
rebuilders becomes an inert placeholder (numpy scalars, argparse namespaces, anything), and
tensors are lazy: only those of the chosen state dict are read from the archive, on any torch
version (no mmap needed).
"""
from __future__ import annotations

import collections
import pickle
import zipfile
from typing import Any, Dict, List, Tuple

import torch

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "UntypedStorage": torch.uint8,
}


class NotATorchZip(ValueError):
    pass


class Inert:
    """Stands for any object the pickle would construct through a global we do not trust."""

    global_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{self.global_name}>"


class _StorageType:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class _Archive:
    def __init__(self, path: str):
        self.path = path
        self.zip = zipfile.ZipFile(path)
        names = self.zip.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise NotATorchZip(f"{path}: no data.pkl in the archive")
        self.prefix = pkl[0][: -len("data.pkl")]
        self.storages: Dict[str, torch.Tensor] = {}
        self.ignored_globals: set = set()
        byteorder = self.prefix + "byteorder"
        if byteorder in names and self.zip.read(byteorder).strip() != b"little":
            raise NotATorchZip(f"{path}: big-endian archives are not supported")

    def storage(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        """The whole storage `key` as a flat tensor, read once."""
        if key not in self.storages:
            nbytes = numel * torch.empty((), dtype=dtype).element_size()
            raw = torch.empty(nbytes, dtype=torch.uint8)
            with self.zip.open(f"{self.prefix}data/{key}") as f:
                view = memoryview(raw.numpy()).cast("B")
                read = 0
                while read < nbytes:
                    n = f.readinto(view[read:])
                    if not n:
                        raise ValueError(f"{self.path}: storage {key} is truncated")
                    read += n
            self.storages[key] = raw.view(dtype) if nbytes else torch.empty(0, dtype=dtype)
        return self.storages[key]


class LazyTensor:
    """A tensor in the archive; materialize() reads its storage."""

    def __init__(self, archive: _Archive, key: str, dtype: torch.dtype, numel: int, offset: int,
                 size: Tuple[int, ...], stride: Tuple[int, ...]):
        self.archive, self.key, self.dtype, self.numel = archive, key, dtype, numel
        self.offset, self.shape, self.stride = offset, torch.Size(size), tuple(stride)

    def materialize(self) -> torch.Tensor:
        storage = self.archive.storage(self.key, self.dtype, self.numel)
        return storage.as_strided(self.shape, self.stride, self.offset)

    def __repr__(self) -> str:
        return f"LazyTensor({list(self.shape)}, {self.dtype})"


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: _Archive):
        super().__init__(file)
        self.archive = archive

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_tensor_v3"):
            return self._rebuild_tensor_v3
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, requires_grad, hooks, *rest: data
        if (module, name) == ("torch._utils", "_rebuild_from_type_v2"):
            return lambda func, new_type, args, state: func(*args)  # tensor subclasses: the data only
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if (module, name) == ("torch", "Size"):
            return torch.Size
        self.archive.ignored_globals.add(f"{module}.{name}")
        return type(name, (Inert,), {"global_name": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else torch.uint8
        return (key, dtype, numel)

    def _rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
        key, dtype, numel = storage
        return LazyTensor(self.archive, key, dtype, numel, offset, tuple(size), tuple(stride))

    def _rebuild_tensor_v3(self, storage, offset, size, stride, requires_grad, hooks, dtype, *rest):
        key, _, nbytes = storage  # untyped storage: numel counts bytes
        itemsize = torch.empty((), dtype=dtype).element_size()
        return LazyTensor(self.archive, key, dtype, nbytes // itemsize, offset, tuple(size), tuple(stride))


def is_torch_zip(path: str) -> bool:
    return zipfile.is_zipfile(path)


def read_lazy(path: str) -> Tuple[Any, List[str]]:
    """Unpickles the archive's data.pkl with lazy tensors. Returns (object, ignored globals)."""
    archive = _Archive(path)
    with archive.zip.open(archive.prefix + "data.pkl") as f:
        obj = _Unpickler(f, archive).load()
    return obj, sorted(archive.ignored_globals)


def materialize(mapping: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """{name: LazyTensor | Tensor} -> {name: Tensor} (reads only these tensors' storages)."""
    return {k: v.materialize() if isinstance(v, LazyTensor) else v for k, v in mapping.items()}


def is_tensor_like(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, LazyTensor))
