"""Named datasets: where their files live, their checksums, and how to fetch them.

Lookup order for a named dataset's file: ``$RSIR_DATA_DIR``, then the cache directory
(``$RSIR_CACHE_DIR`` or ``~/.cache/rsir_pl``). A missing file is downloaded into the cache when
a network is reachable; otherwise the error says which file to put where. Every file is checked
against its SHA-256 before use.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.readers import read_any, read_sequence_file
from rsir_pl.data.synthetic import SyntheticSpec, SyntheticWorld, synthetic_dataset, world_of_spec

log = logging.getLogger(__name__)

_ICLREC = "https://raw.githubusercontent.com/salesforce/ICLRec/4afb54a036ebbf4166ed5858122d89c0642251a7/data/"


@dataclass(frozen=True)
class RegisteredDataset:
    """A public preprocessed dataset file (S3-Rec / ICLRec 5-core, whitespace sequences)."""

    name: str
    filename: str
    sha256: str
    users: int
    items: int
    interactions: int

    @property
    def url(self) -> str:
        """Public download address (salesforce/ICLRec, data/)."""
        return _ICLREC + self.filename


REGISTRY: dict[str, RegisteredDataset] = {
    d.name: d
    for d in (
        RegisteredDataset(
            "beauty",
            "Beauty.txt",
            "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
            22363,
            12101,
            198502,
        ),
        RegisteredDataset(
            "toys",
            "Toys_and_Games.txt",
            "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
            19412,
            11924,
            167597,
        ),
        RegisteredDataset(
            "sports",
            "Sports_and_Outdoors.txt",
            "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
            35598,
            18357,
            296337,
        ),
        RegisteredDataset(
            "yelp",
            "Yelp.txt",
            "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
            30431,
            20033,
            316354,
        ),
    )
}

#: the name of the embedded dataset (no file needed)
SYNTHETIC = "synthetic"
#: a small version of it for tests and demos that must finish in seconds
SYNTHETIC_TINY = "synthetic-tiny"
TINY_SPEC = SyntheticSpec(num_users=400, num_items=240, num_groups=10)


def known_world(name: str) -> SyntheticWorld | None:
    """The generating world of an embedded dataset name (None for any other dataset)."""
    key = name.lower()
    if key == SYNTHETIC:
        return world_of_spec(SyntheticSpec())
    if key == SYNTHETIC_TINY:
        return world_of_spec(TINY_SPEC)
    return None


def available() -> list[str]:
    """Every dataset name :func:`load_dataset` accepts."""
    return [SYNTHETIC, SYNTHETIC_TINY, *REGISTRY]


def cache_dir() -> Path:
    """Where downloads go: ``$RSIR_CACHE_DIR`` or ``~/.cache/rsir_pl``."""
    return Path(os.environ.get("RSIR_CACHE_DIR", Path.home() / ".cache" / "rsir_pl"))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def locate(name: str, download: bool = True) -> Path:
    """Path of a registered dataset's verified file, downloading it into the cache if allowed."""
    entry = REGISTRY[name]
    candidates = []
    if os.environ.get("RSIR_DATA_DIR"):
        candidates.append(Path(os.environ["RSIR_DATA_DIR"]) / entry.filename)
    candidates.append(cache_dir() / entry.filename)
    for path in candidates:
        if path.is_file():
            digest = sha256_file(path)
            if digest != entry.sha256:
                raise ValueError(
                    f"{path}: checksum mismatch for dataset {name!r} (sha256 {digest}, expected "
                    f"{entry.sha256}); the file is corrupt or a different version: replace it "
                    f"with {entry.url}"
                )
            return path
    looked = _places_looked(entry.filename)
    fix = (
        f"put {entry.filename} (sha256 {entry.sha256}) in a folder and export RSIR_DATA_DIR=/that/folder, "
        f"or put it in {cache_dir()}"
    )
    if not download:
        raise FileNotFoundError(
            f"dataset {name!r}: {entry.filename} not found; looked in {looked}; download {entry.url} and {fix}"
        )
    target = cache_dir() / entry.filename
    try:
        _download(entry.url, target, entry.sha256)
    except OSError as exc:
        raise FileNotFoundError(
            f"dataset {name!r}: {entry.filename} not found; looked in {looked}; downloading {entry.url} failed "
            f"({exc}); {fix}"
        ) from exc
    return target


def _places_looked(filename: str) -> str:
    """Every place :func:`locate` looks, with the environment variables that decide them."""
    data_dir = os.environ.get("RSIR_DATA_DIR")
    first = f"{Path(data_dir) / filename} ($RSIR_DATA_DIR)" if data_dir else "$RSIR_DATA_DIR (it is unset)"
    cache_var = "$RSIR_CACHE_DIR" if os.environ.get("RSIR_CACHE_DIR") else "the cache; $RSIR_CACHE_DIR is unset"
    return f"{first} and {cache_dir() / filename} ({cache_var})"


def _download(url: str, target: Path, sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    log.info("downloading %s -> %s", url, target)
    with urllib.request.urlopen(url, timeout=30) as resp, open(tmp, "wb") as out:
        while block := resp.read(1 << 20):
            out.write(block)
    digest = sha256_file(tmp)
    if digest != sha256:
        tmp.unlink(missing_ok=True)
        raise OSError(f"downloaded file has sha256 {digest}, expected {sha256}")
    os.replace(tmp, target)


def load_dataset(name_or_path: str, k_core: int = 5, download: bool = True) -> InteractionDataset:
    """Load a dataset by registered name (``synthetic``, ``beauty``, ...) or by file path."""
    key = name_or_path.lower()
    if key == SYNTHETIC:
        return synthetic_dataset(SyntheticSpec())
    if key == SYNTHETIC_TINY:
        ds = synthetic_dataset(TINY_SPEC)
        ds.name = SYNTHETIC_TINY
        return ds
    if key in REGISTRY:
        return read_sequence_file(locate(key, download=download), name=key)
    path = Path(name_or_path)
    if path.exists():
        return read_any(path, k_core=k_core)
    close = difflib.get_close_matches(key, available(), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown dataset {name_or_path!r}: not a registered name ({', '.join(available())}) and no such file{hint}"
    )
