"""The seed's chapter 4-7 code in one file, with ONLY its crash bugs fixed: the baseline for benchmarks and parity tests.

Nothing here is imported by the course package; it exists so that benchmarks (bench_generate.py, bench_train.py)
and parity tests (tests/test_model.py) can compare the course code against exactly what the seed would have run.

    python benchmarks/seed_reference.py      # builds the seed model on a tiny vocab and generates a few tokens

Every fix is marked with a comment starting `# FIX(seed):`. Everything else (names, structure, init, the fixed
128-padding, the naive generation loop) is kept on purpose, even where the course code does better.
"""
import json
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm import tqdm

# FIX(seed): the seed's tokenizer.py also did `import token` (an unused stdlib module); dropped.


# ----------------------------------------------------------------------------------------------- chapter 2
class Tokenizer:
    def __init__(self, vocab_path: str):
        with open(vocab_path, "r", encoding="utf-8") as f:
            vocab = json.load(f)

        self.word2id = vocab["word2id"]
        self.id2word = {int(k): v for k, v in vocab["id2word"].items()}

        self.pad_token_id = self.word2id["<pad>"]
        self.unk_token_id = self.word2id["<unk>"]
        self.sep_token_id = self.word2id["<sep>"]

    def encode(self, question: str, answer: str, max_length: int = 128, pad_to_max_length: bool = True):
        tokens = []
        for char in question:
            tokens.append(self.word2id.get(char, self.unk_token_id))
        tokens.append(self.sep_token_id)
        if answer is not None:
            for char in answer:
                tokens.append(self.word2id.get(char, self.unk_token_id))
            tokens.append(self.sep_token_id)

        attn_mask = [1] * len(tokens)
        if pad_to_max_length:
            if len(tokens) > max_length:
                tokens = tokens[:max_length]
                attn_mask = attn_mask[:max_length]
            else:
                pad_len = max_length - len(tokens)
                tokens.extend([self.pad_token_id] * pad_len)
                attn_mask.extend([0] * pad_len)
        return tokens, attn_mask

    def decode(self, ids):
        return "".join(self.id2word[i] for i in ids if i != self.pad_token_id)

    def get_vocab_size(self):
        return len(self.id2word)


# ----------------------------------------------------------------------------------------------- chapter 4
class QADataset(Dataset):
    def __init__(self, data_path: str, tokenizer: Tokenizer, max_length: int):
        self.tokeniner = tokenizer  # (seed typo, harmless: used consistently below)
        self.max_length = max_length
        self.data = []

        print(f"Loading data from {data_path}")
        with open(data_path, "r", encoding="utf-8") as f:
            for line_num, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    item = json.loads(line)
                    if "question" not in item or "answer" not in item:
                        print(f"⚠️  Line {line_num}: Missing 'question' or 'answer', skipped.")
                        continue
                    self.data.append((item["question"], item["answer"]))
                except Exception as e:
                    print(f"⚠️  Line {line_num}: Invalid JSON, skipped. Error: {e}")
        print(f"✅ Loaded {len(self.data)} valid QA pairs.")

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        question, answer = self.data[idx]
        full_tokens, atnn_mask = self.tokeniner.encode(question, answer, max_length=self.max_length)
        input_ids = full_tokens[:-1]
        attention_mask = atnn_mask[:-1]
        targets = full_tokens[1:]
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
            "targets": torch.tensor(targets, dtype=torch.long),
        }


# ----------------------------------------------------------------------------------------------- chapter 6
@dataclass
class GPTConfig:
    n_embd: int = 768
    n_head: int = 8
    n_layer: int = 6
    dropout: float = 0.1
    block_size: int = 128
    vocab_size: int = 4825


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.config = config
        self.head_dim = config.n_embd // config.n_head
        self.qkv_proj = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        # FIX(seed): the seed wrote `self.resid_dropput = ...` here but called `self.resid_dropout` in forward
        # -> AttributeError on the first forward pass.
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv_proj(x)
        q, k, v = qkv.chunk(3, dim=-1)
        q = q.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)
        k = k.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)

        attn_mask = None
        if attention_mask is not None:
            key_padding_mask = attention_mask.to(torch.bool)
            causal_mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
            key_padding_mask = key_padding_mask[:, None, None, :]
            causal_mask = causal_mask[None, None, :, :]
            attn_mask = causal_mask & key_padding_mask  # [B, 1, T, T]
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, dropout_p=self.config.dropout if self.training else 0, is_causal=False
            )
        else:
            # FIX(seed): the seed computed `y` only inside `if attention_mask is not None:`, so a call without a
            # mask (e.g. generation) raised NameError/UnboundLocalError. Without a mask: plain causal attention.
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.config.dropout if self.training else 0, is_causal=True
            )

        y = y.transpose(1, 2).contiguous().view(B, T, C)
        y = self.resid_dropout(self.out_proj(y))
        return y


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c_fc(x)
        x = F.gelu(x)
        x = self.c_proj(x)
        x = self.dropout(x)
        return x


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), attention_mask)
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, T = input_ids.shape
        assert T <= self.config.block_size, f"序列长度 {T} 超出最大上下文长度 {self.config.block_size}"
        tok_emb = self.wte(input_ids)
        pos = torch.arange(0, T, dtype=torch.long, device=input_ids.device)
        pos_emb = self.wpe(pos)
        x = self.drop(tok_emb + pos_emb)
        for block in self.blocks:
            x = block(x, attention_mask)
        x = self.ln_f(x)
        return x


class GPTLMHeadModel(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = Transformer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        hidden_states = self.transformer(input_ids, attention_mask)
        logits = self.lm_head(hidden_states)
        return logits


# ----------------------------------------------------------------------------------------------- chapter 7
def train_epoch(model, train_loader, optimizer, criterion, device):
    model.train()
    total_loss = 0
    num_batches = len(train_loader)
    progress_bar = tqdm(enumerate(train_loader), total=num_batches, desc="  Train", leave=False, unit="batch")
    for batch_idx, batch in progress_bar:
        input_ids = batch["input_ids"].to(device, non_blocking=True)
        attention_mask = batch["attention_mask"].to(device, non_blocking=True)
        targets = batch["targets"].to(device, non_blocking=True)

        optimizer.zero_grad()
        logits = model(input_ids=input_ids, attention_mask=attention_mask)
        loss = criterion(logits.view(-1, logits.size(-1)), targets.view(-1))
        loss.backward()
        optimizer.step()

        total_loss += loss.item()
        progress_bar.set_postfix({"loss": f"{loss.item():.4f}"})
    return total_loss / num_batches


@torch.no_grad()
def validate(model, val_loader, criterion, device):
    model.eval()
    total_loss = 0
    num_batches = len(val_loader)
    progress_bar = tqdm(enumerate(val_loader), total=num_batches, desc="  Val", leave=False, unit="batch")
    for batch_idx, batch in progress_bar:
        input_ids = batch["input_ids"].to(device, non_blocking=True)
        attention_mask = batch["attention_mask"].to(device, non_blocking=True)
        targets = batch["targets"].to(device, non_blocking=True)
        logits = model(input_ids=input_ids, attention_mask=attention_mask)
        loss = criterion(logits.view(-1, logits.size(-1)), targets.view(-1))
        total_loss += loss.item()
        progress_bar.set_postfix({"loss": f"{loss.item():.4f}"})
    return total_loss / num_batches


# ----------------------------------------------------------------------------------------------- chapter 8
# The seed's chapter 8 is empty. This is the obvious loop its author would have written: encode the question,
# run the WHOLE sequence through the model for every new token (no KV cache), take the argmax of the last
# position, stop at <sep>. One question at a time. By default without padding, so the no-mask (causal) path is
# used; padded=True keeps the seed tokenizer's default (pad_to_max_length=True, max_length=128) and passes the
# padding mask, as the seed's training code does: every step then runs all 128 positions.
@torch.no_grad()
def seed_generate(model, tokenizer, question, max_new_tokens=64, stop=True, padded=False):
    """Greedy answer to one question, recomputing the full sequence each step. Returns (answer_text, new_ids).

    `stop=False` always generates max_new_tokens (benchmarks need a fixed length).
    """
    model.eval()
    device = next(model.parameters()).device
    max_length = model.config.block_size
    input_ids, attn_mask = tokenizer.encode(question, None, max_length=max_length, pad_to_max_length=padded)
    n = sum(attn_mask)  # real tokens; the rest (if padded) is <pad> with mask 0
    ids = torch.tensor([input_ids], dtype=torch.long, device=device)  # [1, T] or [1, 128]
    mask = torch.tensor([attn_mask], dtype=torch.long, device=device)
    new_ids = []
    for _ in range(max_new_tokens):
        if n > max_length:
            break  # the seed's model would assert; stop at the context length instead
        if padded:
            logits = model(ids, mask)  # [1, 128, vocab]: all 128 positions, padding masked out
        else:
            logits = model(ids)  # [1, T, vocab]: every step recomputes all T positions
        next_id = int(logits[0, n - 1].argmax())
        if stop and next_id == tokenizer.sep_token_id:
            break
        new_ids.append(next_id)
        if padded:
            if n < max_length:  # the new token takes the first padding slot (none left: the loop ends next)
                ids[0, n], mask[0, n] = next_id, 1
        else:
            ids = torch.cat([ids, torch.tensor([[next_id]], device=device)], dim=1)
        n += 1
    return tokenizer.decode(new_ids), new_ids


if __name__ == "__main__":
    import tempfile
    from pathlib import Path

    chars = list("一二三四五六七八九十问答是什么？")
    words = ["<pad>", "<unk>", "<sep>"] + chars
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.json"
        path.write_text(json.dumps({"word2id": {w: i for i, w in enumerate(words)},
                                    "id2word": {str(i): w for i, w in enumerate(words)}}), encoding="utf-8")
        tok = Tokenizer(str(path))
    torch.manual_seed(0)
    model = GPTLMHeadModel(GPTConfig(n_embd=32, n_head=2, n_layer=2, vocab_size=tok.get_vocab_size()))
    print("parameters:", sum(p.numel() for p in model.parameters()))
    print("answer (random weights):", repr(seed_generate(model, tok, "一是什么？", 8, stop=False)[0]))
