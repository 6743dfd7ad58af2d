"""Nearest-neighbour index (dataset-level resampling): every backend equals brute force."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmcl.errors import MMCLError
from mmcl.nn_index import build_neighbours, faiss_available


def _brute_force(x: torch.Tensor, k: int) -> tuple[list[list[int]], list[list[float]]]:
    """Sort every other sample by cosine similarity, one row at a time."""
    z = F.normalize(x.double(), dim=-1)
    indices, sims = [], []
    for i in range(len(z)):
        scored = sorted(((float(z[i] @ z[j]), j) for j in range(len(z)) if j != i), reverse=True)
        indices.append([j for _, j in scored[:k]])
        sims.append([s for s, _ in scored[:k]])
    return indices, sims


BACKENDS = ["torch"] + (["faiss"] if faiss_available() else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_neighbours_equal_brute_force(backend):
    x = torch.randn(60, 7, generator=torch.Generator().manual_seed(0))
    result = build_neighbours(x, k=4, backend=backend)
    indices, sims = _brute_force(x, 4)
    assert result.backend == backend
    assert result.indices.tolist() == indices  # continuous data: no ties
    expected = torch.tensor(sims, dtype=torch.float64)
    torch.testing.assert_close(result.similarities.double(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_duplicates_never_list_the_sample_itself(backend):
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(1)).repeat(3, 1)  # 3 copies
    result = build_neighbours(x, k=2, backend=backend)
    rows = torch.arange(30)[:, None]
    assert not (result.indices == rows).any()
    assert ((result.indices % 10) == (rows % 10)).all()  # the two other copies come first


def test_k_out_of_range_is_an_error():
    with pytest.raises(MMCLError, match="index_k"):
        build_neighbours(torch.randn(5, 2), k=5)
