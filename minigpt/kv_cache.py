"""KV cache: the keys and values of the tokens a model has already seen, one entry per layer.

Generation feeds one new token at a time; attention needs the keys and values of *all* earlier tokens.
Recomputing them every step costs O(T^2) over a whole answer; keeping them here makes each step O(T).
Shared by the GPT (chapter 7) and Qwen3 (chapter 8).
"""
import torch


class KVCache:
    def __init__(self, n_layer: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer

    @property
    def seq_len(self) -> int:
        """How many positions are cached (0 before the first forward pass)."""
        k = self.keys[0]
        return 0 if k is None else k.shape[2]

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's k, v (B, n_kv_heads, T_new, head_dim); return everything so far."""
        if self.keys[layer_idx] is not None:
            k = torch.cat([self.keys[layer_idx], k], dim=2)  # (B, nkv, T_past + T_new, hs)
            v = torch.cat([self.values[layer_idx], v], dim=2)
        self.keys[layer_idx], self.values[layer_idx] = k, v
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """Keep only the rows in `index` (batch dimension), e.g. when some rows have finished."""
        self.keys = [None if k is None else k[index] for k in self.keys]
        self.values = [None if v is None else v[index] for v in self.values]
