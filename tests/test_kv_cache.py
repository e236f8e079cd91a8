import pytest
import torch

from minigpt.kv_cache import KVCache


def test_update_appends_along_time_and_counts_positions():
    cache = KVCache(n_layer=2)
    assert cache.seq_len == 0
    k1, v1 = torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4)
    cache.update(0, k1, v1)
    cache.update(1, k1, v1)
    k2, v2 = torch.randn(3, 2, 1, 4), torch.randn(3, 2, 1, 4)
    k_all, v_all = cache.update(0, k2, v2)
    assert k_all.shape == (3, 2, 6, 4)
    torch.testing.assert_close(k_all[:, :, :5], k1)
    torch.testing.assert_close(v_all[:, :, 5:], v2)
    assert cache.seq_len == 6


def test_reorder_keeps_selected_rows():
    cache = KVCache(n_layer=1)
    k = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 1).contiguous()
    cache.update(0, k, k)
    cache.reorder(torch.tensor([2, 0]))
    assert cache.keys[0][:, 0, 0, 0].tolist() == [2.0, 0.0]


def test_reserved_buffer_gives_the_same_as_cat_and_refuses_overflow():
    grow, reserved = KVCache(n_layer=1), KVCache(n_layer=1, max_len=7)
    for T in (5, 1, 1):
        k, v = torch.randn(3, 2, T, 4), torch.randn(3, 2, T, 4)
        for cache in (grow, reserved):
            k_all, v_all = cache.update(0, k, v)
        torch.testing.assert_close(k_all, grow.keys[0], rtol=0, atol=0)
        torch.testing.assert_close(v_all, grow.values[0], rtol=0, atol=0)
    assert reserved.seq_len == grow.seq_len == 7
    reserved.reorder(torch.tensor([2, 0]))
    grow.reorder(torch.tensor([2, 0]))
    torch.testing.assert_close(reserved.keys[0], grow.keys[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="max_len=7"):
        reserved.update(0, torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4))
