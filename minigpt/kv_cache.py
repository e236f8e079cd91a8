"""KV cache: the keys and values of the tokens a model has already seen, one entry per layer.

Generation feeds one new token at a time; attention needs the keys and values of *all* earlier tokens.
Recomputing them every step costs O(T^2) over a whole answer; keeping them here makes each step O(T).
Shared by the GPT (chapter 7) and Qwen3 (chapter 8).

Two ways to store them, same results:
  KVCache(n_layer)               appends with torch.cat: simplest, but copies everything cached so far each step
  KVCache(n_layer, max_len=256)  reserves (B, n_kv_heads, max_len, head_dim) once per layer and writes each
                                 step into the next free slots; generate() uses it, it knows the final length
"""
import torch


class KVCache:
    def __init__(self, n_layer: int, max_len: int | None = None):
        self.max_len = max_len  # None: grow with torch.cat; else the most positions update() will accept
        # keys[i]/values[i]: the filled part, (B, n_kv_heads, seq_len, head_dim); with max_len a view of the buffer
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer
        self._k_buf: list[torch.Tensor | None] = [None] * n_layer  # (B, nkv, max_len, hs), only with max_len
        self._v_buf: list[torch.Tensor | None] = [None] * n_layer

    @property
    def seq_len(self) -> int:
        """How many positions are cached (0 before the first forward pass)."""
        k = self.keys[0]
        return 0 if k is None else k.shape[2]

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's k, v (B, n_kv_heads, T_new, head_dim); return everything so far."""
        past = self.keys[layer_idx]
        if self.max_len is None:
            if past is not None:
                k = torch.cat([past, k], dim=2)  # (B, nkv, T_past + T_new, hs)
                v = torch.cat([self.values[layer_idx], v], dim=2)
        else:
            n = 0 if past is None else past.shape[2]
            end = n + k.shape[2]
            if end > self.max_len:
                raise ValueError(f"KV cache holds at most max_len={self.max_len} positions, asked for {end}")
            if self._k_buf[layer_idx] is None:  # first call: reserve the whole length once
                B, nkv, _, hs = k.shape
                self._k_buf[layer_idx] = k.new_empty(B, nkv, self.max_len, hs)
                self._v_buf[layer_idx] = v.new_empty(B, nkv, self.max_len, hs)
            self._k_buf[layer_idx][:, :, n:end] = k  # copies only the new positions
            self._v_buf[layer_idx][:, :, n:end] = v
            k, v = self._k_buf[layer_idx][:, :, :end], self._v_buf[layer_idx][:, :, :end]  # views, no copy
        self.keys[layer_idx], self.values[layer_idx] = k, v
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """Keep only the rows in `index` (batch dimension), e.g. when some rows have finished."""
        if self.max_len is not None:
            self._k_buf = [None if b is None else b[index] for b in self._k_buf]
            self._v_buf = [None if b is None else b[index] for b in self._v_buf]
            self.keys = [None if k is None else b[:, :, :k.shape[2]] for k, b in zip(self.keys, self._k_buf)]
            self.values = [None if v is None else b[:, :, :v.shape[2]] for v, b in zip(self.values, self._v_buf)]
            return
        self.keys = [None if k is None else k[index] for k in self.keys]
        self.values = [None if v is None else v[index] for v in self.values]
