"""Named datasets: the shared files load with the published sizes; bad or absent files fail clearly.

No test touches the network: RSIR_CACHE_DIR points into tmp_path and the download function is
replaced by one that fails the test if it is ever called.
"""

from pathlib import Path

import pytest

from rsir_pl.data import registry
from rsir_pl.data.registry import REGISTRY, available, load_dataset, locate

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Empty cache, no RSIR_DATA_DIR, and a download that must not happen."""
    monkeypatch.setenv("RSIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RSIR_DATA_DIR", raising=False)

    def no_network(url, target, sha256):
        raise AssertionError(f"test tried to download {url}")

    monkeypatch.setattr(registry, "_download", no_network)


@pytest.fixture
def shared_data(monkeypatch):
    if not (SHARED_DATA / "Beauty.txt").is_file():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    monkeypatch.setenv("RSIR_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA


@pytest.mark.parametrize(
    "name, users, items, interactions",
    [("beauty", 22363, 12101, 198502), ("toys", 19412, 11924, 167597)],
)
def test_shared_files_have_published_sizes(shared_data, name, users, items, interactions):
    if not (shared_data / REGISTRY[name].filename).is_file():
        pytest.skip(f"{REGISTRY[name].filename} not in {shared_data}")
    ds = load_dataset(name, download=False)
    assert ds.name == name
    assert (ds.num_users, ds.num_items, ds.sequences.num_interactions) == (users, items, interactions)
    assert (REGISTRY[name].users, REGISTRY[name].items, REGISTRY[name].interactions) == (users, items, interactions)
    # the files use dense ids 1..N already, so remapping keeps them
    assert ds.item_ids[1] == "1" and ds.item_ids[-1] == str(items)
    assert locate(name, download=False) == shared_data / REGISTRY[name].filename


def test_registry_checksums_match_shared_sha256sums(shared_data):
    sums = dict(reversed(line.split()) for line in (shared_data / "SHA256SUMS").read_text().splitlines() if line)
    for entry in REGISTRY.values():
        assert sums[entry.filename] == entry.sha256, entry.name


def test_wrong_contents_give_checksum_error_naming_path(monkeypatch, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fake = data_dir / "Beauty.txt"
    fake.write_text("1 1 2 3\n2 2 3 4\n")  # a valid sequence file, just not the registered one
    monkeypatch.setenv("RSIR_DATA_DIR", str(data_dir))
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        load_dataset("beauty", download=False)
    assert str(fake) in str(info.value)
    assert REGISTRY["beauty"].sha256 in str(info.value)


def test_corrupt_cached_file_is_reported_too(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "Toys_and_Games.txt").write_bytes(b"\x00broken")
    with pytest.raises(ValueError, match="Toys_and_Games.txt: checksum mismatch"):
        load_dataset("toys", download=False)


def test_missing_file_without_download_says_what_to_put_where(monkeypatch, tmp_path):
    data_dir = tmp_path / "empty_data"
    data_dir.mkdir()
    monkeypatch.setenv("RSIR_DATA_DIR", str(data_dir))
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("sports", download=False)
    msg = str(info.value)
    assert "Sports_and_Outdoors.txt" in msg
    assert str(data_dir) in msg and str(tmp_path / "cache") in msg
    assert "RSIR_DATA_DIR" in msg and REGISTRY["sports"].url in msg


def test_failed_download_is_a_clear_file_not_found(monkeypatch):
    def offline_download(url, target, sha256):
        raise OSError("network unreachable")

    monkeypatch.setattr(registry, "_download", offline_download)
    with pytest.raises(FileNotFoundError, match="network unreachable") as info:
        load_dataset("yelp")
    assert "Yelp.txt" in str(info.value) and REGISTRY["yelp"].sha256 in str(info.value)


def test_download_lands_in_cache_and_is_used(monkeypatch, tmp_path):
    calls = []

    def fake_download(url, target, sha256):
        calls.append((url, target))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("1 1 2 3\n")

    monkeypatch.setattr(registry, "_download", fake_download)
    monkeypatch.setattr(registry, "sha256_file", lambda path: REGISTRY["yelp"].sha256)
    path = locate("yelp")
    assert path == tmp_path / "cache" / "Yelp.txt" and calls == [(REGISTRY["yelp"].url, path)]


def test_unknown_name_lists_registered_names():
    with pytest.raises(ValueError) as info:
        load_dataset("no_such_dataset", download=False)
    msg = str(info.value)
    assert "no_such_dataset" in msg
    assert set(available()) >= {"synthetic", "beauty", "toys", "sports", "yelp"}
    for name in available():
        assert name in msg


def test_path_and_synthetic_are_accepted(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("a 5 6 7\n")
    ds = load_dataset(str(path))
    assert ds.name == "mine" and ds.sequences.to_lists() == [[1, 2, 3]]
    assert load_dataset("Synthetic").name == "synthetic"  # names are case-insensitive
