"""KV cache：模型已经看过的 token 的键（K）和值（V），每层一份。

生成时每次只送进一个新 token，而注意力需要之前*所有* token 的键和值。
每步都重算，一个回答下来是 O(T²)；把它们存在这里，每步只要 O(T)。
第 7 章的 GPT 和第 8 章的 Qwen3 共用它。

两种存法，结果相同：
  KVCache(n_layer)               用 torch.cat 追加：最简单，但每步都把已缓存的全部复制一遍
  KVCache(n_layer, max_len=256)  每层一次预留 (B, n_kv_heads, max_len, head_dim)，每步写进下一个空位；
                                 generate() 用这种，它知道最终长度
"""
import torch

__all__ = ["KVCache"]


class KVCache:
    def __init__(self, n_layer: int, max_len: int | None = None):
        self.max_len = max_len  # None：用 torch.cat 增长；否则是 update() 最多接受的位置数
        # keys[i]/values[i]：已填的部分 (B, n_kv_heads, seq_len, head_dim)；有 max_len 时是缓冲区的视图
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer
        self._k_buf: list[torch.Tensor | None] = [None] * n_layer  # (B, nkv, max_len, hs)，只在有 max_len 时
        self._v_buf: list[torch.Tensor | None] = [None] * n_layer

    @property
    def seq_len(self) -> int:
        """缓存了多少个位置（第一次前向之前是 0）。"""
        k = self.keys[0]
        return 0 if k is None else k.shape[2]

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """追加这一步的 k、v (B, n_kv_heads, T_new, head_dim)；返回到目前为止的全部。"""
        past = self.keys[layer_idx]
        if self.max_len is None:
            if past is not None:
                k = torch.cat([past, k], dim=2)  # (B, nkv, T_past + T_new, hs)
                v = torch.cat([self.values[layer_idx], v], dim=2)
        else:
            n = 0 if past is None else past.shape[2]
            end = n + k.shape[2]
            if end > self.max_len:
                raise ValueError(f"KV cache 最多存 max_len={self.max_len} 个位置，这次要 {end} 个")
            if self._k_buf[layer_idx] is None:  # 第一次调用：一次预留整个长度
                B, nkv, _, hs = k.shape
                self._k_buf[layer_idx] = k.new_empty(B, nkv, self.max_len, hs)
                self._v_buf[layer_idx] = v.new_empty(B, nkv, self.max_len, hs)
            self._k_buf[layer_idx][:, :, n:end] = k  # 只复制新的位置
            self._v_buf[layer_idx][:, :, n:end] = v
            k, v = self._k_buf[layer_idx][:, :, :end], self._v_buf[layer_idx][:, :, :end]  # 视图，不复制
        self.keys[layer_idx], self.values[layer_idx] = k, v
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """只保留批里 `index` 这些行，比如有些行已经生成完了。"""
        if self.max_len is not None:
            self._k_buf = [None if b is None else b[index] for b in self._k_buf]
            self._v_buf = [None if b is None else b[index] for b in self._v_buf]
            self.keys = [None if k is None else b[:, :, :k.shape[2]] for k, b in zip(self.keys, self._k_buf)]
            self.values = [None if v is None else b[:, :, :v.shape[2]] for v, b in zip(self.values, self._v_buf)]
            return
        self.keys = [None if k is None else k[index] for k in self.keys]
        self.values = [None if v is None else v[index] for v in self.values]
