"""The run directory: every file the loop writes goes through here.

Writes are atomic (a temporary file in the same directory, fsync, then ``os.replace``), and a
manifest records each file's SHA-256 and size. On resume the manifest is checked: a file that is
missing, truncated or altered is reported by name instead of being silently used, and a run
directory created with different settings is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from rsir_pl.atomic import atomic_write_bytes, read_json_object
from rsir_pl.data.store import SequenceStore
from rsir_pl.storage.writer_lock import acquire_writer_lock

if TYPE_CHECKING:
    from rsir_pl.config import RunConfig

MANIFEST = "manifest.json"
RUN_INFO = "run.json"
#: the settings the run was claimed with, as the loop wrote them
CONFIG = "config.yaml"


class RunDirError(RuntimeError):
    """The run directory cannot be used as it is (corrupt file, different configuration)."""


class RunDir:
    """A resumable run directory with an integrity manifest.

    Only the writer process (DDP rank 0) writes; every process may read. A writer holds the
    directory's writer lock (:mod:`rsir_pl.storage.writer_lock`), so a second process that tries to
    write the same directory is refused instead of silently overwriting the manifest.
    """

    def __init__(self, path: str | Path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer
        if writer:
            self.path.mkdir(parents=True, exist_ok=True)
            acquire_writer_lock(self.path)
        self._manifest: dict[str, dict[str, Any]] = self._load_manifest()

    # ------------------------------------------------------------------ manifest
    def _load_manifest(self) -> dict[str, dict[str, Any]]:
        remedy = "the manifest is corrupt: move the run directory aside"
        data = read_json_object(self.path / MANIFEST, RunDirError, remedy)
        return {} if data is None else data.get("files", {})

    def reload(self) -> None:
        """Re-read the manifest (non-writer ranks after a barrier)."""
        self._manifest = self._load_manifest()

    def _save_manifest(self) -> None:
        data = json.dumps({"format": "rsir_pl.manifest/1", "files": self._manifest}, indent=1, sort_keys=True)
        atomic_write_bytes(self.path / MANIFEST, data.encode())

    # ------------------------------------------------------------------ writing
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Atomically write ``rel`` and record its hash in the manifest."""
        if not self.writer:
            return
        atomic_write_bytes(self.path / rel, data)
        self._manifest[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        self._save_manifest()

    def write_json(self, rel: str, obj: Any) -> None:
        """Atomically write pretty JSON."""
        self.write_bytes(rel, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())

    def write_text(self, rel: str, text: str) -> None:
        """Atomically write text."""
        self.write_bytes(rel, text.encode())

    def write_store(self, rel: str, store: SequenceStore) -> None:
        """Atomically write a sequence store (.npz)."""
        self.write_bytes(rel, store.to_bytes())

    def write_arrays(self, rel: str, **arrays: np.ndarray) -> None:
        """Atomically write named arrays (.npz)."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        self.write_bytes(rel, buf.getvalue())

    def write_torch(self, rel: str, obj: Any) -> None:
        """Atomically write a torch-serialised object (checkpoints)."""
        buf = io.BytesIO()
        torch.save(obj, buf)
        self.write_bytes(rel, buf.getvalue())

    # ------------------------------------------------------------------ reading
    def has(self, rel: str) -> bool:
        """True when ``rel`` is in the manifest and its file exists (contents checked on read)."""
        return rel in self._manifest and (self.path / rel).exists()

    def recorded(self) -> list[str]:
        """Every file recorded in the manifest (relative paths, sorted)."""
        return sorted(self._manifest)

    def read_bytes(self, rel: str) -> bytes:
        """Read ``rel`` after checking it against the manifest."""
        p = self.path / rel
        if rel not in self._manifest:
            raise RunDirError(f"{p}: not recorded in {self.path / MANIFEST} (written by another tool or partial)")
        if not p.exists():
            raise RunDirError(f"{p}: recorded in the manifest but missing")
        data = p.read_bytes()
        entry = self._manifest[rel]
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise RunDirError(
                f"{p}: contents do not match the manifest (size {len(data)} vs {entry['bytes']}); the file "
                "is corrupt or was changed; delete it (and what follows it) to regenerate"
            )
        return data

    def read_json(self, rel: str) -> Any:
        """Read verified JSON."""
        return json.loads(self.read_bytes(rel).decode())

    def read_store(self, rel: str) -> SequenceStore:
        """Read a verified sequence store."""
        return SequenceStore.from_bytes(self.read_bytes(rel), source=str(self.path / rel))

    def read_arrays(self, rel: str) -> dict[str, np.ndarray]:
        """Read verified named arrays."""
        with np.load(io.BytesIO(self.read_bytes(rel))) as z:
            return {k: z[k] for k in z.files}

    def read_torch(self, rel: str) -> Any:
        """Read a verified torch object (weights only)."""
        return torch.load(io.BytesIO(self.read_bytes(rel)), map_location="cpu", weights_only=True)

    def read_config(self) -> dict[str, Any]:
        """The run's ``config.yaml`` as a mapping ({} when there is none): checked against the
        manifest when it is recorded there, read as is when it is a bare copy."""
        p = self.path / CONFIG
        if not p.is_file():
            return {}
        raw = self.read_bytes(CONFIG) if self.has(CONFIG) else p.read_bytes()
        try:
            config = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise RunDirError(f"{p}: not valid YAML ({exc})") from exc
        if config is None:
            return {}
        if not isinstance(config, dict):
            raise RunDirError(f"{p}: must hold a mapping of settings, got {type(config).__name__}")
        return config

    def verify(self) -> list[str]:
        """Every manifest problem, as messages (empty when all files check out)."""
        problems = []
        for rel in sorted(self._manifest):
            try:
                self.read_bytes(rel)
            except RunDirError as exc:
                problems.append(str(exc))
        return problems

    # ------------------------------------------------------------------ identity
    def settings(self) -> dict[str, Any]:
        """The result settings the run was claimed with (``run.json`` without the non-result keys)."""
        from rsir_pl.config import strip_non_result

        return strip_non_result(self.read_json(RUN_INFO).get("settings", {}))

    def base_differences(self, config: RunConfig) -> list[str]:
        """How the settings that decide this run's base model differ from ``config``'s (empty:
        ``config`` would train the same base, so it may reuse it)."""
        from rsir_pl.config import RunConfig, base_settings

        return settings_diff(base_settings(self.settings()), config.base_settings(), RunConfig().base_settings())

    def claim(self, settings: dict[str, Any], defaults: dict[str, Any] | None = None) -> bool:
        """Bind the directory to the settings that change results; True when resuming.

        Refuses (RunDirError, naming each differing option) when the directory was created with
        other settings. An option the directory's run did not know (added to rsir_pl since) is
        accepted when it has its default value, so a newer rsir_pl can resume an older run.
        """
        info_path = self.path / RUN_INFO
        if self.has(RUN_INFO):
            diffs = settings_diff(self.settings(), settings, defaults or {})
            if diffs:
                raise RunDirError(
                    f"{self.path}: created by a run with different settings, refusing to resume "
                    f"({'; '.join(diffs[:8])}); use another run_dir or the same config"
                )
            return True
        if info_path.exists() or any(self.path.glob("iter_*")):
            raise RunDirError(f"{self.path}: holds files of an unknown run (no valid {RUN_INFO}); use an empty run_dir")
        self.write_json(RUN_INFO, {"format": "rsir_pl.run/2", "settings": settings})
        return False


_MISSING = object()


def settings_diff(old: Any, new: Any, defaults: Any, prefix: str = "") -> list[str]:
    """Differences between stored and new settings; a key the stored run lacks is no difference
    when the new value is its default, and keys the new settings lack are ignored."""
    if isinstance(new, dict):
        out = []
        old_d = old if isinstance(old, dict) else {}
        def_d = defaults if isinstance(defaults, dict) else {}
        for k in sorted(new):
            o = old_d.get(k, _MISSING)
            if o is _MISSING:
                if new[k] != def_d.get(k, _MISSING):
                    out.append(f"{prefix}{k}: (not set) -> {new[k]!r}")
                continue
            out += settings_diff(o, new[k], def_d.get(k, _MISSING), f"{prefix}{k}.")
        return out
    if old != new:
        return [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]
    return []


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj)}")
