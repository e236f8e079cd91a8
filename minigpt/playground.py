"""答题游乐场（第 7 章）：在 Jupyter 里用 ipywidgets 和训练好的模型“对话”。

    from minigpt.playground import playground
    pg = playground()            # 默认：你训练的最新模型（output/ 或第 6 章的 output/ch06/），没有就用仓库自带的

输入问题、点“生成”，回答一个字一个字地流出来；下面按每个字的概率上色。
可以切换贪心/采样，调温度、top-k、top-p、重复惩罚和最多生成的字数，换 checkpoint，或从示例里挑问题。
首字延迟（点击到第一个字出现）显示在状态栏，也存在 `pg.first_char_latency` 里（秒）。

不在 Jupyter 里也能用（测试就是这么做的）：`pg = Playground(model, tokenizer)`，
设置 `pg.question.value`，调用 `pg.generate_button.click()`，再读 `pg.last_answer`、`pg.answer_html.value`。
命令行里做同样的事（检查模型和首字延迟）：

    python ./minigpt/playground.py --question "用“亲密无间”接龙，下一个成语是？"
"""
from __future__ import annotations

import contextlib
import html
import re
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # 以脚本方式运行时，让 `import minigpt.*` 能找到仓库根目录
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ipywidgets as widgets
import torch

from minigpt.cli import ArgumentParser, UserError, report
from minigpt import generate
from minigpt.checkpoint import default_checkpoint, find_checkpoints, load_for_inference  # noqa: F401（find_checkpoints 是公开名字）
from minigpt.common import pick_device
from minigpt.fast_decode import decoder_for
from minigpt.jsonl import natural_examples, read_qa_jsonl
from minigpt.models import context_length

__all__ = ["Playground", "playground", "load_examples", "probability_html", "find_checkpoints", "main", "N_EXAMPLES"]

N_EXAMPLES = 30  # 每个数据文件最多取多少个示例问题（下拉框太长就不好用了）


def _label(path: Path) -> str:
    """下拉框里显示的名字：能相对当前目录（仓库根目录）就写相对路径。"""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_examples(data_dir: Path | str = "data", limit: int = N_EXAMPLES) -> list[tuple[str, str]]:
    """示例问题 [(来源, 问题)]：先是 playground_examples.json 里平常的问法（和训练数据的句子不同），
    再是 train.jsonl / val.jsonl 里的原句（训练过的 vs 没见过的），没有划分时用 data.jsonl。"""
    data_dir = Path(data_dir)
    sources = [("训练", data_dir / "train.jsonl"), ("验证", data_dir / "val.jsonl")]
    if not any(path.exists() for _, path in sources):
        sources = [("数据", data_dir / "data.jsonl")]
    examples = natural_examples(data_dir)
    seen = {question for _, question in examples}
    for label, path in sources:
        if not path.exists():
            continue
        taken = 0
        # 示例只是方便：坏行静默跳过（数据检查是 minigpt.jsonl 的事）
        try:
            pairs = read_qa_jsonl(path, warn=lambda message: None, summary=False)
        except ValueError:  # 整个文件读不了
            continue
        for pair in pairs:
            if pair.question not in seen:
                seen.add(pair.question)
                examples.append((label, pair.question))
                taken += 1
                if taken >= limit:
                    break
    return examples


def probability_html(chars: list[str], probs: list[float]) -> str:
    """每个字按模型给它的概率上色：红 = 没把握（p 小），绿 = 很有把握（p 大）。鼠标悬停看数值。"""
    spans = []
    for char, p in zip(chars, probs):
        hue = int(120 * max(0.0, min(1.0, p)))  # 0 = 红，120 = 绿
        spans.append(
            f'<span class="minigpt-prob-char" title="p = {p:.3f}" data-p="{p:.4f}" '
            f'style="background:hsl({hue},85%,78%);padding:1px 2px;margin:0 1px;border-radius:3px">'
            f"{html.escape(char)}</span>"
        )
    legend = (
        '<div style="font-size:85%;color:#666;margin-top:4px">颜色 = 模型选这个字时的概率：'
        '<span style="background:hsl(0,85%,78%);padding:0 4px">0</span> → '
        '<span style="background:hsl(60,85%,78%);padding:0 4px">0.5</span> → '
        '<span style="background:hsl(120,85%,78%);padding:0 4px">1</span></div>'
    )
    body = "".join(spans) if spans else '<span style="color:#999">（空回答）</span>'
    return f'<div class="minigpt-probs" style="font-size:130%;line-height:1.9">{body}</div>{legend}'


class Playground:
    """答题游乐场。给 model + tokenizer，或给 checkpoint 路径（默认 minigpt.checkpoint.default_checkpoint()）。

    background=None：在 Jupyter 内核里用后台线程生成（内核不被占住，连点两下第二下会被忽略），
    否则（测试、脚本）在点击的调用里同步生成，click() 返回时回答已经完整。
    threads：在 CPU 上生成时 torch 用几个线程（生成期间临时设置，结束后恢复；None = 不改）。
    一次只生成一个字，矩阵很小，多线程的同步开销比计算本身还大；机器忙的时候尤其如此
    （2 核的共享机器上实测：2 线程每次前向 269 ms，1 线程 4 ms）。
    """

    def __init__(self, model=None, tokenizer=None, *, checkpoint=None, checkpoints=None, examples=None,
                 device=None, background: bool | None = None, threads: int | None = 1):
        if device is not None:
            self.device = torch.device(device)
        elif model is not None:  # 给了模型：就在它所在的设备上生成，不去搬动它
            self.device = next(model.parameters()).device
        else:
            self.device = pick_device()
        self.background = _in_kernel() if background is None else background
        self.threads = threads
        self._models: dict[str, tuple] = {}  # 选择器的值 → (model, tokenizer)，每个 checkpoint 只加载一次
        self._lock = threading.Lock()
        self._busy = False
        self._thread: threading.Thread | None = None

        # 可读的结果（测试和 notebook 用）
        self.last_answer = ""
        self.last_probs: list[float] = []
        self.first_char_latency: float | None = None  # 秒：点击 → 第一个字
        self.runs = 0  # 真正开始的生成次数
        self.ignored_clicks = 0  # 生成中被忽略的点击

        # ---- 模型选择器的选项：内存中的模型，再是各个 checkpoint ----
        options = []
        if model is not None:
            if tokenizer is None:
                raise ValueError("给了 model 就要同时给 tokenizer")
            options.append(("（当前内存中的模型）", "<memory>"))
            self._models["<memory>"] = (self._prepare(model), tokenizer)
        paths = [Path(p) for p in (checkpoints if checkpoints is not None else find_checkpoints())]
        if checkpoint is not None:
            paths.insert(0, Path(checkpoint))
        elif model is None:
            paths.insert(0, Path(default_checkpoint()))  # 打印用的是哪个
        for path in paths:
            key = str(path.resolve())
            if key not in [value for _, value in options]:
                options.append((_label(path), key))

        self._build_widgets(options, load_examples() if examples is None else examples)
        self.widget = self._layout()
        self._wire()

    # ---- 控件：建出来、摆好、连上 ----
    def _build_widgets(self, options: list[tuple[str, str]], examples: list[tuple[str, str]]) -> None:
        self.checkpoint_picker = widgets.Dropdown(options=options, description="模型", layout=widgets.Layout(width="48%"))
        self.examples = widgets.Dropdown(
            options=[("— 选一个示例问题 —", "")] + [(f"[{src}] {q}", q) for src, q in examples],
            description="示例", layout=widgets.Layout(width="48%"),
        )
        self.question = widgets.Text(placeholder="输入问题，比如：画蛇添足是什么意思？", description="问题",
                                     layout=widgets.Layout(width="98%"))
        self.mode = widgets.ToggleButtons(options=[("贪心", "greedy"), ("采样", "sample")], value="greedy",
                                          tooltips=["每步取概率最大的字（确定）", "按概率抽一个字（随机）"],
                                          style={"button_width": "70px"})
        self.generate_button = widgets.Button(description="生成", button_style="primary", icon="play")
        self.temperature = widgets.FloatSlider(value=1.0, min=0.1, max=2.0, step=0.05, description="温度")
        self.top_k = widgets.IntSlider(value=0, min=0, max=50, description="top-k", tooltip="0 = 不限")
        self.top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p")
        self.repetition_penalty = widgets.FloatSlider(value=1.0, min=1.0, max=2.0, step=0.05, description="重复惩罚")
        self.max_new_tokens = widgets.IntSlider(value=64, min=1, max=128, description="最多字数")
        self.seed = widgets.IntText(value=-1, description="随机种子", tooltip="-1 = 每次随机", layout=widgets.Layout(width="160px"))
        self.message = widgets.HTML()  # 提示和错误（未知字、太长、忙……）
        self.answer_html = widgets.HTML()  # 流式输出的回答
        self.status = widgets.Label()  # 首字延迟、字数、速度
        self.prob_html = widgets.HTML()  # 按概率上色的回答
        for w, name in [(self.question, "minigpt-question"), (self.generate_button, "minigpt-generate"),
                        (self.answer_html, "minigpt-answer-box"), (self.status, "minigpt-status"),
                        (self.message, "minigpt-message"), (self.prob_html, "minigpt-prob-box")]:
            w.add_class(name)  # 浏览器测试靠这些 class 找到控件

    def _layout(self) -> widgets.VBox:
        sampling_box = widgets.VBox([self.temperature, self.top_k, self.top_p])
        return widgets.VBox([
            widgets.HTML("<h3 style='margin:4px 0'>minigpt 答题游乐场</h3>"),
            widgets.HBox([self.checkpoint_picker, self.examples]),
            self.question,
            widgets.HBox([widgets.Label("解码", layout=widgets.Layout(width="80px")), self.mode, self.generate_button],
                         layout=widgets.Layout(align_items="center")),
            widgets.HBox([sampling_box, widgets.VBox([self.repetition_penalty, self.max_new_tokens, self.seed])]),
            self.message, self.answer_html, self.status, self.prob_html,
        ])

    def _wire(self) -> None:
        """点击和改动各接到哪个方法；再按当前的值刷新一次。"""
        self.generate_button.on_click(self._on_click)
        self.examples.observe(self._on_example, names="value")
        self.mode.observe(self._on_mode, names="value")
        self.checkpoint_picker.observe(self._on_checkpoint, names="value")
        self._on_mode()
        self._on_checkpoint()

    # ---- 给 notebook 显示 ----
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ---- 模型 ----
    @contextlib.contextmanager
    def _threads(self):
        """在 CPU 上时，这段代码里 torch 只用 self.threads 个线程（None = 不改）；出来时恢复原来的线程数。"""
        saved_threads = torch.get_num_threads()
        if self.threads and self.device.type == "cpu":
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(saved_threads)

    def _prepare(self, model):
        model = model.to(self.device).eval()
        with self._threads(), torch.no_grad():  # 预热一次：第一次前向有一次性的初始化开销，不该算进首字延迟
            ids = torch.zeros(1, 1, dtype=torch.long, device=self.device)
            decoder = decoder_for(model, 2)
            if decoder is not None:  # 快速路径也先打包好权重（并量好一行时用哪种矩阵乘），用的线程数和生成时一样
                decoder.prefill(ids)
            else:
                model(ids)
        return model

    @property
    def model(self):
        return self._models[self.checkpoint_picker.value][0]

    @property
    def tokenizer(self):
        return self._models[self.checkpoint_picker.value][1]

    def _on_checkpoint(self, change=None):
        key = self.checkpoint_picker.value
        if key is None:
            self._set_message("没有找到模型：先运行 notebooks/06 训练一个，或检查 checkpoints/minigpt-idiom.pth", "error")
            self.generate_button.disabled = True
            return
        if key not in self._models:
            try:
                model, tokenizer = load_for_inference(key, "cpu")
                self._models[key] = (self._prepare(model), tokenizer)
            except UserError as e:  # CheckpointError：坏文件或找不到。在界面上说清楚，别抛一屏 traceback
                reason = str(e)
                self._set_message(f"加载 {html.escape(self.checkpoint_picker.label)} 失败：{html.escape(reason)}", "error")
                self.generate_button.disabled = True
                return
        self.generate_button.disabled = self._busy
        n_ctx = context_length(self.model)
        self.max_new_tokens.max = n_ctx
        self._set_message(f"模型：{html.escape(self.checkpoint_picker.label)}（上下文 {n_ctx}，词表 {self.tokenizer.get_vocab_size()}）", "info")

    # ---- 控件联动 ----
    def _on_example(self, change=None):
        if self.examples.value:
            self.question.value = self.examples.value

    def _on_mode(self, change=None):
        greedy = self.mode.value == "greedy"
        for w in (self.temperature, self.top_k, self.top_p, self.seed):
            w.disabled = greedy  # 贪心只取最大概率的字，这几个旋钮不起作用

    def sampling_kwargs(self) -> dict:
        """当前控件对应的 generate/stream_generate/answer 参数（不含 max_new_tokens）。"""
        kwargs = {"do_sample": self.mode.value == "sample", "repetition_penalty": float(self.repetition_penalty.value)}
        if kwargs["do_sample"]:
            kwargs["temperature"] = float(self.temperature.value)
            kwargs["top_k"] = int(self.top_k.value) or None  # 0 表示不限
            kwargs["top_p"] = float(self.top_p.value) if self.top_p.value < 1.0 else None
            kwargs["seed"] = int(self.seed.value) if self.seed.value >= 0 else None
        return kwargs

    # ---- 生成 ----
    def _on_click(self, button=None):
        with self._lock:  # 生成中再点：忽略，不排队，也不并发
            if self._busy:
                self.ignored_clicks += 1
                self.status.value = f"正在生成上一个回答，请稍候……（已忽略 {self.ignored_clicks} 次重复点击）"
                return
            self._busy = True
        clicked_at = time.perf_counter()
        self.generate_button.disabled = True
        self.generate_button.description = "生成中…"
        if self.background:
            self._thread = threading.Thread(target=self._run, args=(clicked_at,), daemon=True)
            self._thread.start()
        else:
            self._run(clicked_at)

    def wait(self, timeout: float | None = None) -> None:
        """等后台生成结束（只在 background=True 时有意义）。"""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, clicked_at: float) -> None:
        try:
            with self._threads():
                self._generate(clicked_at)
        except Exception as e:  # 界面里说清楚出了什么错，按钮恢复可用
            self._set_message(f"生成失败：{type(e).__name__}: {html.escape(str(e))}", "error")
            self.status.value = "生成失败"
        finally:
            self.generate_button.description = "生成"
            self.generate_button.disabled = False
            with self._lock:
                self._busy = False

    def _generate(self, clicked_at: float) -> None:
        model, tokenizer = self.model, self.tokenizer
        question = self.question.value.strip()
        self.last_answer, self.last_probs, self.first_char_latency = "", [], None
        self.prob_html.value = ""
        self.status.value = ""
        if not question:
            self.answer_html.value = ""
            self._set_message("请先输入一个问题（或从示例里选一个）。", "warn")
            return

        notes = []
        unknown = sorted({c for c in question if c not in tokenizer.word2id})
        if unknown:
            shown = "".join(f"“{html.escape(c)}”" for c in unknown)
            notes.append(f"这些字不在词表里，模型只能把它们当作 &lt;unk&gt;：{shown}（照样回答，但别太当真）")
        n_ctx = context_length(model)
        room = generate.answer_room(model, tokenizer, question)  # 问题 + <sep> + 回答 必须放进上下文
        if room < 1:
            self.answer_html.value = ""
            self._set_message(
                f"问题太长：{len(question)} 个字，加上 &lt;sep&gt; 是 {n_ctx - room} 个位置，"
                f"而模型最多只能看 {n_ctx} 个位置（还要给回答留位置）。请把问题缩短到 {n_ctx - 2} 个字以内。", "error")
            return
        max_new = int(self.max_new_tokens.value)
        if max_new > room:
            notes.append(f"上下文只剩 {room} 个位置，这次最多生成 {room} 个字。")
            max_new = room
        self._set_message("<br>".join(notes), "warn" if notes else "info")

        self.runs += 1
        pieces = []
        self._show_answer(question, "", streaming=True)
        self.status.value = "生成中……"
        start = time.perf_counter()
        # 默认走第 7 章的快速解码（fast=True：不需要编译，第一个字不用等），结果与普通路径相同
        for piece in generate.stream_answer(model, tokenizer, question, max_new_tokens=max_new, **self.sampling_kwargs()):
            if self.first_char_latency is None:
                self.first_char_latency = time.perf_counter() - clicked_at
            pieces.append(piece)
            self.last_answer = "".join(pieces)
            self._show_answer(question, self.last_answer, streaming=True)  # 每个字更新一次：流式
        elapsed = time.perf_counter() - start
        if self.first_char_latency is None:  # 空回答：第一个 token 就是停止符，首字延迟算到它为止
            self.first_char_latency = elapsed + (start - clicked_at)
        self.last_answer, self.last_probs = "".join(pieces), [piece.prob for piece in pieces]
        self._show_answer(question, self.last_answer, streaming=False)
        self.prob_html.value = probability_html(pieces, self.last_probs)
        latency = f"{self.first_char_latency:.3f} s" if self.first_char_latency is not None else "—"
        speed = f"{len(pieces) / elapsed:.0f} 字/秒" if elapsed > 0 and pieces else "—"
        self.status.value = f"首字延迟 {latency} · {len(pieces)} 个字 · {speed}"

    # ---- 显示（所有用户文本都经过 html.escape） ----
    def _show_answer(self, question: str, answer: str, *, streaming: bool) -> None:
        cursor = '<span style="color:#999">▌</span>' if streaming else ""
        self.answer_html.value = (
            f'<div style="color:#666">问：<span class="minigpt-echo">{html.escape(question)}</span></div>'
            f'<div style="font-size:130%">答：<span class="minigpt-answer">{html.escape(answer)}</span>{cursor}</div>'
        )

    def _set_message(self, text_html: str, level: str = "info") -> None:
        """text_html 里的用户文本必须已经转义过。"""
        color = {"info": "#555", "warn": "#b26a00", "error": "#c62828"}[level]
        self.message.value = f'<div class="minigpt-msg-{level}" style="color:{color}">{text_html}</div>' if text_html else ""


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def playground(checkpoint=None, **kwargs) -> Playground:
    """建一个游乐场并显示出来。写成 `pg = playground()`（光写 `playground()` 作为最后一行会显示两次）。"""
    from IPython.display import display

    pg = Playground(checkpoint=checkpoint, **kwargs)
    display(pg.widget)
    return pg


def main(argv=None) -> int:
    """不开浏览器：建一个游乐场，填问题，点“生成”，打印回答、提示和状态栏。"""
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", required=True, help="要问的问题")
    parser.add_argument("--checkpoint", default=None, help="默认：minigpt.checkpoint.default_checkpoint()")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    pg = Playground(checkpoint=args.checkpoint, examples=[], checkpoints=[], device=args.device, background=False)
    if pg.generate_button.disabled:  # 模型没加载上
        return report(html.unescape(re.sub('<[^>]+>', '', pg.message.value)))
    pg.question.value = args.question
    pg.generate_button.click()
    note = html.unescape(re.sub("<br>", "\n", re.sub("<(?!br>)[^>]+>", "", pg.message.value)))
    if note:
        print(note)
    print(f"答：{pg.last_answer}")
    print(pg.status.value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
