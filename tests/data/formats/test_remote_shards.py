"""Remote webdataset shards: `pipe:` commands and http URLs stream through webdataset's opener,
counted from sizes.json (or data.webdataset.shard_samples), and give the same batches as local
files."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import pytest
from torch.utils.data import DataLoader

from mmcl.data.formats.webdataset_shards import count_samples, index_shards, shard_paths
from mmcl.data.record_dataset import BatchEncoder
from mmcl.data.stream_dataset import ShardStream
from mmcl.errors import MMCLError

LOCAL = "train-{000000..000003}.tar"


def _indices(shards) -> list[list[int]]:
    stream = ShardStream(shards, BatchEncoder(32), 4, 3, 0, 1, 1, buffer=5)
    stream.set_position(1, 0)
    return [loaded.batch.index.tolist() for loaded in DataLoader(stream, batch_size=None)]


@pytest.fixture
def shard_dir(written, tmp_path):
    folder = tmp_path / "shards"
    shutil.copytree(written / "webdataset", folder)
    return folder


def _sizes(folder) -> None:
    sizes = {p.name: count_samples(str(p)) for p in sorted(folder.glob("train-*.tar"))}
    (folder / "sizes.json").write_text(json.dumps(sizes))


def test_pipe_shards_with_sizes_json_stream_like_local_files(shard_dir):
    _sizes(shard_dir)
    local = index_shards(shard_paths(str(shard_dir / LOCAL)))
    piped = index_shards(shard_paths(f"pipe:cat {shard_dir}/{LOCAL}"))
    assert [s.n_samples for s in piped] == [s.n_samples for s in local]
    assert _indices(piped) == _indices(local)


def test_without_sizes_json_the_count_comes_from_the_flag_or_an_error_says_how(shard_dir):
    spec = f"pipe:cat {shard_dir}/{LOCAL}"
    with pytest.raises(
        MMCLError, match=r"sizes.json beside the shards .* data.webdataset.shard_samples=N"
    ):
        index_shards(shard_paths(spec))
    shards = index_shards(shard_paths(spec), per_shard=8)
    assert [s.n_samples for s in shards] == [8, 8, 8, 8]


def test_a_failing_pipe_is_a_clear_error(shard_dir):
    shards = index_shards(shard_paths(f"pipe:cat {shard_dir}/missing-{{0..1}}.tar"), per_shard=8)
    with pytest.raises(MMCLError, match="cannot be read"):
        _indices(shards)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines in the test output
        pass


def test_http_shards_stream_from_a_server(shard_dir):
    _sizes(shard_dir)
    handler = functools.partial(QuietHandler, directory=str(shard_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{LOCAL}"
        remote = index_shards(shard_paths(url))
        local = index_shards(shard_paths(str(shard_dir / LOCAL)))
        assert [s.n_samples for s in remote] == [s.n_samples for s in local]
        assert _indices(remote) == _indices(local)
    finally:
        server.shutdown()
