"""Sentence encodings kept on disk, keyed by model and text, so retraining skips the encoder.

Encoding is most of a dense pipeline's training time; a project whose examples barely changed
re-encodes only the new ones. One file per model: `<cache_dir>/encodings-<model_id>.npz`.
"""

import hashlib
from pathlib import Path

import numpy as np


class EncodingCache:
    def __init__(self, directory: str | Path | None, model_id: str):
        self.path = Path(directory) / f"encodings-{model_id}.npz" if directory else None
        self.vectors: dict[str, np.ndarray] = {}
        self.changed = False
        if self.path is not None and self.path.exists():
            try:
                with np.load(self.path) as stored:
                    for key, vector in zip(stored["keys"], stored["vectors"], strict=True):
                        self.vectors[str(key)] = vector
            except (OSError, ValueError, KeyError):
                self.vectors = {}  # a damaged cache is rebuilt, never fatal

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def encode(self, texts: list[str], encoder) -> tuple[np.ndarray, int]:
        """Vectors for `texts` (from the cache where possible) and how many were encoded now."""
        keys = [self.key(t) for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self.vectors}.items()
        )
        if missing:
            fresh = encoder.encode([t for _, t in missing])
            for (key, _), vector in zip(missing, fresh, strict=True):
                self.vectors[key] = vector
            self.changed = True
        result = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
        for row, key in enumerate(keys):
            result[row] = self.vectors[key]
        return result, len(missing)

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.vectors), dtype="U32")
        vectors = np.stack(list(self.vectors.values())) if self.vectors else np.zeros((0, 0))
        temporary = self.path.with_suffix(".tmp.npz")
        np.savez(temporary, keys=keys, vectors=vectors)
        temporary.replace(self.path)  # atomic: a concurrent reader sees the old or the new file
        self.changed = False
