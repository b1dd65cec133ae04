"""Where an export's images come from: the user's own data by default, synthetic pets only when asked.

INT8 calibration (train split), parity (test split) and thresholds (val split) are the decisions a user
most needs to rest on data like theirs. So, in order: ``--data-dir`` + ``--splits`` when given; else the
training run beside the checkpoint (``petface-train`` writes ``config.json`` and ``splits.json`` next to
``pet_embedder.pt``, and ``splits.json`` names the data directory); synthetic pets only with
``--data synthetic``; otherwise an error that says what to pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from petface_edge.errors import PetfaceError

SYNTHETIC = "synthetic"
RUN_FILES = ("config.json", "splits.json")


class DataSourceError(PetfaceError, ValueError):
    """No usable image source for calibration, parity and thresholds; the message says what to pass."""


@dataclass(frozen=True)
class DataSource:
    kind: str  # "dataset" | "synthetic"
    data_dir: Optional[Path]
    splits: Optional[Path]
    how: str  # how it was chosen, in words

    @property
    def description(self) -> str:
        """One line for the report header and the manifest."""
        if self.kind == SYNTHETIC:
            return f"synthetic procedural pets ({self.how}): not the user's data"
        return f"{self.data_dir} with the splits of {self.splits} ({self.how})"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "data_dir": str(self.data_dir) if self.data_dir else None,
                "splits": str(self.splits) if self.splits else None, "how": self.how,
                "description": self.description}

    @classmethod
    def from_dict(cls, d: dict) -> "DataSource":
        return cls(d["kind"], Path(d["data_dir"]) if d.get("data_dir") else None,
                   Path(d["splits"]) if d.get("splits") else None, d.get("how", ""))


def _run_data_dir(run: Path) -> Path:
    """The data directory the training run in ``run`` used (splits.json records it; config.json as a fallback)."""
    for name in ("splits.json", "config.json"):
        try:
            value = json.loads((run / name).read_text()).get("data_dir")
        except (OSError, ValueError, AttributeError) as exc:
            raise DataSourceError(f"{run / name}: unreadable ({exc}); pass --data-dir DIR --splits "
                                  f"{run / 'splits.json'}") from None
        if value:
            path = Path(value)
            return path if path.is_absolute() else (run / path)
    raise DataSourceError(f"{run}: neither splits.json nor config.json names a data directory; pass --data-dir DIR "
                          f"--splits {run / 'splits.json'}")


def resolve(checkpoint: Path, data: Optional[str] = None, data_dir: Optional[str | Path] = None,
            splits: Optional[str | Path] = None) -> DataSource:
    """The image source for an export of ``checkpoint``; raises :class:`DataSourceError` when there is none."""
    if data not in (None, SYNTHETIC):
        raise DataSourceError(f"unknown --data {data!r}: the only named source is '{SYNTHETIC}'")
    if data == SYNTHETIC:
        if data_dir is not None or splits is not None:
            raise DataSourceError("--data synthetic and --data-dir/--splits exclude each other")
        return DataSource(SYNTHETIC, None, None, "--data synthetic")
    if (data_dir is None) != (splits is None):
        raise DataSourceError("--data-dir and --splits go together (held-out images come from the split file)")
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise DataSourceError(f"{data_dir}: no such data directory")
        return DataSource("dataset", Path(data_dir), Path(splits), "--data-dir and --splits")
    run = checkpoint.resolve().parent
    present = [name for name in RUN_FILES if (run / name).is_file()]
    hint = ("pass --data-dir DIR --splits SPLITS.json for your own data, or --data synthetic for built-in cartoon "
            "pets (INT8 calibration, parity and thresholds would then rest on data unlike yours)")
    if len(present) < len(RUN_FILES):
        missing = ", ".join(name for name in RUN_FILES if name not in present)
        raise DataSourceError(f"{checkpoint}: no training run beside it ({missing} missing in {run}); {hint}")
    data_path = _run_data_dir(run)
    if not data_path.is_dir():
        raise DataSourceError(f"{run / 'splits.json'}: its data directory {data_path} does not exist here; {hint}")
    return DataSource("dataset", data_path, run / "splits.json",
                      f"the training run's own data, found beside {checkpoint.name}")
