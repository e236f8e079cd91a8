"""第 9 章练习的参考答案。先自己做，卡住了再看。"""
import math

# 9.1 预测：课程数据平均每个字符占几个 UTF-8 字节。大部分是汉字和全角标点（各 3 字节），
# 拼音答案的字母和空格各 1 字节、带声调的字母 2 字节，把平均值拉到 3 以下。
my_guess = 2.6


# 9.2 合并一对：从左到右，不重叠
def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2  # 这两个位置用掉了
        else:
            out.append(ids[i])
            i += 1
    return out


# 9.3 按合并顺序编码一个词
def encode_piece(piece, ranks):
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        scores = [ranks.get(a + b, math.inf) for a, b in zip(parts, parts[1:])]
        i = scores.index(min(scores))  # 编号最小（学得最早）的一对；并列时最左边
        if scores[i] == math.inf:
            break
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


# 9.4 每个 token 的损失 → 每个字的比特数
def bits_per_char(mean_loss, n_tokens, n_chars):
    total_nats = mean_loss * n_tokens  # 整段文字的总损失
    return total_nats / math.log(2) / n_chars
