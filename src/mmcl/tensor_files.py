"""Reading torch files that a user hands over or a run folder holds, without running code.

A `.pt`/`.bin` file is a pickle, and unpickling may call any function the file names: a
checkpoint from a stranger could run a shell command. Every torch file mmcl reads goes through
`read_tensor_file`, which uses `torch.load(weights_only=True)`: tensors and plain Python types
(dict, list, tuple, str, numbers) only. `.safetensors` files hold tensors and nothing else.

mmcl's own checkpoints before format 2 also held NumPy's RNG state as an array; those globals
(array reconstruction, no callables) are allowed for the files that need exactly them, so old
runs still resume. Anything else is refused with the names of the objects it wanted and a way
to keep just its tensors from a file the user trusts.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from mmcl.errors import MMCLError


def _numpy_array_globals() -> dict[str, Any]:
    """What `torch.load` needs to rebuild a NumPy array, by the names a checkpoint records."""
    import numpy as np

    return {
        "numpy._core.multiarray._reconstruct": np._core.multiarray._reconstruct,
        "numpy.core.multiarray._reconstruct": np._core.multiarray._reconstruct,
        "numpy.ndarray": np.ndarray,
        "numpy.dtype": np.dtype,
        "numpy.dtypes.UInt32DType": type(np.dtype(np.uint32)),
    }


def read_tensor_file(path: Path, what: str) -> Any:
    """The contents of torch file `path` (tensors and plain types), on the CPU.

    `what` names the file in messages (e.g. "checkpoint", "model.pretrained="). A file that
    wants other Python objects is refused with `MMCLError`; so is one that cannot be read
    (truncated, not a torch file), naming the file either way.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path, what)
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        wanted = _unsafe_globals(path)
        allowed = _numpy_array_globals()
        if wanted and set(wanted) <= set(allowed):  # a format-1 mmcl checkpoint
            with torch.serialization.safe_globals(list(set(allowed.values()))):
                return torch.load(path, map_location="cpu", weights_only=True)
        if wanted:
            raise _refused(path, what, wanted) from None
        raise _unreadable(path, what, error) from None
    except Exception as error:  # truncated, not a torch file: name it, no pickle trace
        raise _unreadable(path, what, error) from None


def _unreadable(path: Path, what: str, error: Exception) -> MMCLError:
    """One line for a file torch cannot read as tensors, with torch's own reason."""
    text = str(error)
    reason = text.partition("WeightsUnpickler error:")[2].strip() or text
    first = reason.splitlines()[0].strip() if reason.strip() else type(error).__name__
    return MMCLError(f"{what} {path} cannot be read as tensors ({first})")


def _unsafe_globals(path: Path) -> list[str]:
    import torch

    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # a legacy (non-zip) file: torch cannot list them without unpickling
        return []


def _refused(path: Path, what: str, wanted: list[str]) -> MMCLError:
    objects = ", ".join(wanted[:3]) + (", ..." if len(wanted) > 3 else "") or "unknown objects"
    return MMCLError(
        f"{what} {path} holds Python objects, not only tensors ({objects}); loading it could "
        "run code, so mmcl refuses. If you trust its source, keep only its tensors: "
        f"python -c \"import torch; s = torch.load('{path}', weights_only=False); "
        f"torch.save(s.get('state_dict', s), '{path.with_suffix('.tensors.pt')}')\""
    )


def _read_safetensors(path: Path, what: str) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise MMCLError(f"{what} {path} cannot be read ({error})") from None
