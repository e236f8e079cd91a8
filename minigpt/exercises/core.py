"""判题器：一道练习是什么样子，check 怎样运行你的代码、比较结果、说出哪里不对；hint 一步一步给提示。

一道练习（Exercise）有：编号、标题、星级、任务说明、桩代码（你要填的函数），
一个参考实现（尽量直接调用课程包里的函数），几个固定的用例（Case），
几种真实的错误写法（Wrong，每种配一句说明错在哪里），以及 2–3 步提示（hints：思路 → 用哪个函数、哪一维 → 接近代码）。

check(编号, 你的函数) 对每个用例：
    1. 用参考实现算出期望值；
    2. 运行你的函数（抛出 NotImplementedError 或返回 None：还没做）；
    3. 比较（compare.py）。不一样时：你的结果和哪种已知的错误写法一样，就说是那种错误；
       否则只有这道题允许的“样子”（Exercise.patterns：差一个常数倍、错开一位……）才拿来猜，再不行就只指出第一处不同。
check 从不打印提示步骤：想要提示时运行 hint(编号)，每运行一次多给一步，用了几步记在进度里。
kind="predict" 的练习先写下一个数（my_guess），check 把它和参考实现算出的真实值比较，并解释为什么是这个数。
check 和 hint 从不抛出异常：notebook 里桩代码没填时也能从头跑到尾。
"""
from __future__ import annotations

import ast
import importlib
import inspect
import math
import random
import sys
import textwrap
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from minigpt.exercises import progress
from minigpt.exercises.compare import PATTERNS, Mismatch, compare, describe

HERE = Path(__file__).resolve().parent
CHAPTERS = range(1, 12)
KINDS = ("function", "value", "predict")


@dataclass
class Case:
    name: str  # 用例说明，判题输出里显示
    args: Callable[[], tuple]  # 每次调用都新建一份输入：你的函数改了输入，也不影响期望值
    tol: tuple[float, float] | None = None  # 这个用例自己的 (atol, rtol)（如 bf16 允许差 1 个最低位）；None：用练习的


@dataclass
class Wrong:
    fn: Callable  # 一种真实的错误写法（签名与你要写的函数相同）
    hint: str  # 你的结果和它一样时给的提示
    stub: bool = False  # True：桩代码里埋好的 bug（6.4）。代码原样未改时算“还没做”，改过但结果一样时算没通过


@dataclass
class Exercise:
    id: str  # "5.2"：第 5 章第 2 题
    title: str
    stars: int  # 1 = 一行代码，3 = 一个小项目
    name: str  # 你要写的函数（或变量）的名字
    task: str  # markdown 任务说明：输入、输出、形状
    where: str  # 课程包里的参考实现在哪里
    stub: str  # 桩代码：import + 一个待填的函数（check 那一行由 code_cell 加上）
    reference: Callable  # 参考实现，签名与你的函数相同（predict：不带参数，算出真实值，不能是写死的数）
    cases: list[Case]  # predict：空列表
    hints: list[str]  # 2–3 步，只有 hint(编号) 才显示：思路 → 用哪个函数、哪一维 → 接近代码（最后一步）
    proved: str  # 通过时的一句话：你刚刚证明了什么（predict：为什么真实值是这个数，预测之后才显示）
    wrong: list[Wrong] = field(default_factory=list)
    atol: float = 1e-5  # 浮点数允许的误差：|你的 − 期望| ≤ atol + rtol·|期望|
    rtol: float = 1e-4
    tail: str = ""  # 函数之后、check 之前的代码（例如先跑一下你的函数看看）
    kind: str = "function"  # "function"：check 调用你的函数；"value"：直接比较你给的值；"predict"：先预测一个数
    harness: Callable | None = None  # harness(函数, *用例参数) 得到要比较的值；None：直接 函数(*用例参数)
    explain: Callable | None = None  # explain(用例参数, 你的结果) → 针对这道题的一句提示，或 None
    patterns: tuple[str, ...] = ()  # 允许用在这道题上的“按差异的样子猜”的提示（compare.PATTERNS 的键）

    def __post_init__(self):
        if self.kind not in KINDS or not 2 <= len(self.hints) <= 3 or set(self.patterns) - set(PATTERNS):
            raise ValueError(f"练习 {self.id}：kind 要是 {KINDS} 之一，hints 要有 2–3 步，patterns 要是 {sorted(PATTERNS)} 里的键")

    @property
    def chapter(self) -> int:
        return int(self.id.split(".")[0])


_REGISTRY: dict[str, Exercise] = {}


def register(ex: Exercise) -> Exercise:
    old = _REGISTRY.get(ex.id)
    if old is not None and old.title != ex.title:  # 同一个文件重新导入（importlib.reload）时允许覆盖
        raise ValueError(f"练习编号 {ex.id} 重复：“{old.title}”和“{ex.title}”")
    _REGISTRY[ex.id] = ex
    return ex


def chapter_exercises(chapter: int) -> list[Exercise]:
    """第 chapter 章的练习（第一次用到时才导入那一章的文件）。"""
    if chapter in CHAPTERS and (HERE / f"ch{chapter:02d}.py").exists():
        importlib.import_module(f"minigpt.exercises.ch{chapter:02d}")
    return [ex for ex in _REGISTRY.values() if ex.chapter == chapter]


def all_exercises() -> list[Exercise]:
    return [ex for ch in CHAPTERS for ex in chapter_exercises(ch)]


def get(exercise_id: str) -> Exercise | None:
    try:
        chapter = int(str(exercise_id).split(".")[0])
    except ValueError:
        return None
    return {ex.id: ex for ex in chapter_exercises(chapter)}.get(str(exercise_id))


def randn(*shape, seed: int = 0) -> torch.Tensor:
    """固定随机种子的随机张量：每次调用都一样，也不动全局随机数。"""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@contextmanager
def seeded(seed: int):
    """在这段代码里用固定的随机种子初始化模型（比如 nn.Linear 的权重），出来后恢复原来的随机数状态。"""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ------------------------------------------------------------------------------ check
class Result(int):
    """check 的结果：像 True/False 一样用（if check(...)），在 notebook 里不会多显示一行 True/False。"""

    def __new__(cls, ok):
        return super().__new__(cls, bool(ok))

    def __repr__(self):
        return repr(bool(self))

    def _ipython_display_(self):  # Jupyter 显示单元格最后一个表达式时调用：什么也不显示
        pass


def check(exercise_id: str, answer: Any) -> Result:
    """运行练习 exercise_id 的用例来检查 answer（你的函数，或者值），打印结果；通过时记进进度。"""
    state, threads = random.getstate(), torch.get_num_threads()
    torch.set_num_threads(1)  # 用例都很小：一个线程最快，也不和别的程序抢 CPU
    try:
        with torch.random.fork_rng(devices=[]):  # 判题不改变你的随机数状态
            ok = run_check(exercise_id, answer)
    except Exception as e:  # 判题器自己的问题，也不能让 notebook 停下来
        print(f"判题器出错了（不是你的代码的问题）：{type(e).__name__}: {e}")
        ok = False
    finally:
        random.setstate(state)
        torch.set_num_threads(threads)
    if ok:
        progress.mark_passed(str(exercise_id))
    return Result(ok)


def not_done(ex: Exercise, note: str = "") -> str:
    """还没做时的那一行：不给提示，只说怎样要提示。"""
    return f"⏳ 练习 {ex.id}“{ex.title}”还没做{note}。卡住了可以运行 hint(\"{ex.id}\")，一次给一步提示。"


def _plain(ex: Exercise) -> str:
    """认不出是哪种错误时的提示：不猜，指回第一处不同。"""
    return f"对照上面第一处不一样的地方（输入、期望、得到），想想你的代码在这一步算了什么；需要提示就运行 hint(\"{ex.id}\")。"


def run_check(exercise_id: str, answer: Any, out: Callable[[str], None] = print) -> bool:
    ex = get(exercise_id)
    if ex is None:
        ids = "、".join(e.id for e in all_exercises())
        out(f"没有编号为 {exercise_id!r} 的练习。现有的练习：{ids}")
        return False
    head = f"练习 {ex.id}“{ex.title}”"
    if answer is None or answer is Ellipsis:
        out(not_done(ex))
        return False
    if ex.kind == "predict":
        return _check_prediction(ex, answer, head, out)
    if ex.kind == "function" and not callable(answer):
        out(f"❌ {head}：check 要的是函数本身，写成 check(\"{ex.id}\", {ex.name})，不带括号；"
            f"你传进来的是 {type(answer).__name__}：{describe(answer)}\n  提示：把函数名传给 check，不要先调用它。")
        return False
    call = answer if ex.kind == "function" else (lambda *args: answer)
    for i, case in enumerate(ex.cases, 1):
        where = f"用例 {i}/{len(ex.cases)}“{case.name}”"
        expected = _cached(ex, ex.reference, case)
        args = case.args()
        try:
            got = _run(ex, call, args)
        except NotImplementedError:
            out(not_done(ex))
            return False
        except Exception as e:  # 你的代码出错：只显示你自己的那几行
            out(f"❌ {head}：你的代码在{where}上出错了\n{format_exception(e)}\n"
                f"  输入：{describe_args(args)}\n  提示：{_exception_hint(ex, case, e)}")
            return False
        if got is None or got is Ellipsis:
            note = "（函数返回了 None：如果已经写了代码，别忘了 return）" if ex.kind == "function" else ""
            out(not_done(ex, note))
            return False
        mismatch = compare(expected, got, *_tol(ex, case))
        if mismatch is None and _mutated(args, case.args()):
            out(f"❌ {head}：结果对，但你的函数改动了传进来的输入（{where}）。"
                f"\n  提示：不要原地修改参数（x += …、masked_fill_、list.sort()…），先复制一份或用不带 _ 的版本。")
            return False
        if mismatch is not None:
            known = _known_mistake(ex, case, got, call)
            if known is not None and known.stub and _is_unchanged_stub(ex, answer):
                out(not_done(ex, "：这还是桩代码里原来的写法"))
                return False
            out(f"❌ {head}没通过：{where}\n  输入：{describe_args(args)}\n  {mismatch.text}"
                f"{_tolerance(ex, case) if mismatch.numeric else ''}\n  提示：{_mistake(ex, case, got, known, mismatch)}")
            return False
    out(f"✅ {head}通过（{len(ex.cases)} 个用例）。{ex.proved}")
    return True


def _tol(ex: Exercise, case: Case) -> tuple[float, float]:
    return case.tol or (ex.atol, ex.rtol)


def _tolerance(ex: Exercise, case: Case) -> str:
    atol, rtol = _tol(ex, case)
    return f"（浮点数允许误差 atol={atol:g}，rtol={rtol:g}）"


def _mistake(ex: Exercise, case: Case, got, known: Wrong | None, mismatch: Mismatch) -> str:
    """没通过时说像哪种错误：已知的错误写法 > 这道题自己的解释 > 这道题允许的“样子” > 只指出第一处不同。"""
    if known is not None:
        return known.hint
    special = ex.explain(case.args(), got) if ex.explain else None
    if special:
        return special
    if mismatch.hint and (mismatch.pattern is None or mismatch.pattern in ex.patterns):
        return mismatch.hint
    return _plain(ex)


def _check_prediction(ex: Exercise, guess, head: str, out: Callable[[str], None]) -> bool:
    """predict：你写下的数和参考实现算出的真实值差多少；之后（不论对错）解释为什么是这个数。"""
    value = guess.item() if isinstance(guess, torch.Tensor) and guess.numel() == 1 else guess
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        out(f"❌ {head}：my_guess 要是一个数（比如 8.5、0.3、1_000_000），你写的是 {describe(guess)}"
            f"\n  提示：把你的预测写成一个数再运行；算式也可以，比如 2 * 256 * 4。")
        return False
    truth = float(_cached(ex, ex.reference, PREDICTION))
    ok = _near(value, truth, ex)
    off = f"差 {value - truth:+.4g}" + (f"，{(value - truth) / abs(truth):+.1%}" if truth else "")
    allowed = f"允许误差 ±{ex.atol:g}" if ex.atol >= ex.rtol * abs(truth) else f"允许误差 ±{ex.rtol:.0%}"
    verdict = f"你的预测 {value:.4g}，真实值 {truth:.4g}（{off}；{allowed}）"
    if ok:
        out(f"✅ {head}通过：{verdict}\n  为什么：{ex.proved}")
        return True
    known = next((w for w in ex.wrong if abs(value - float(w.fn())) <= ex.atol / 10 + 0.05 * abs(float(w.fn()))), None)
    out(f"❌ {head}没通过：{verdict}\n  提示：{known.hint if known else _how_far(value, truth)}\n  为什么：{ex.proved}")
    return False


def _near(value: float, truth: float, ex: Exercise) -> bool:
    return abs(value - truth) <= ex.atol + ex.rtol * abs(truth)  # 和 compare 一样：误差相对于真实值


def _how_far(value: float, truth: float) -> str:
    ratio = value / truth if truth else math.inf
    times = f" {ratio:.3g} 倍" if ratio > 2 else (f"（只有真实值的 {ratio:.2g}）" if 0 < ratio < 0.5 else "")
    return f"你的预测{'偏大' if value > truth else '偏小'}{times}：对照下面的推算，看看哪一步和你想的不一样。"


PREDICTION = Case("预测", lambda: ())  # predict 练习唯一的“用例”：参考实现不带参数


def hint(exercise_id: str, step: int | None = None) -> None:
    """打印练习 exercise_id 的下一步提示（思路 → 用哪个函数、哪一维 → 接近代码），记下用了几步。从不抛出异常。

    step：重看已经给过的第几步（不能跳到还没给的那几步之后）。"""
    try:
        _hint(str(exercise_id), step)
    except Exception as e:
        print(f"显示提示时出错了（不是你的代码的问题）：{type(e).__name__}: {e}")


def _hint(exercise_id: str, step: int | None) -> None:
    ex = get(exercise_id)
    if ex is None:
        print(f"没有编号为 {exercise_id!r} 的练习。现有的练习：{'、'.join(e.id for e in all_exercises())}")
        return
    used, n = progress.hints_used(ex.id), len(ex.hints)
    if step is None:
        step = min(used + 1, n)
    step = max(1, min(int(step), used + 1, n))
    if step > used:
        progress.record_hint(ex.id, step)
    print(f"💡 练习 {ex.id} 提示 {step}/{n}：{ex.hints[step - 1]}")
    if step < n:
        print(f"（还卡着就再运行一次 hint(\"{ex.id}\")，下一步更具体。）")
    else:
        print(f"（这是最后一步提示。参考答案在 {solution_link(ex).removeprefix('../')}：先自己写完再对照。）")


def _is_unchanged_stub(ex: Exercise, answer) -> bool:
    """answer 是不是桩代码里原样的那个函数？比较语法树（不管行号、注释和空白）。

    不比较字节码：Jupyter（IPython）编译单元格的方式和 compile() 不同，同一段代码的字节码会不一样。
    拿不到源代码时（例如 exec 出来的函数）才退回去比较字节码。"""
    try:
        stub = next(node for node in ast.parse(ex.stub).body
                    if isinstance(node, ast.FunctionDef) and node.name == ex.name)
    except (SyntaxError, StopIteration):
        return False
    try:
        yours = ast.parse(textwrap.dedent(inspect.getsource(answer))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return _same_bytecode(ex, answer)
    return ast.dump(stub) == ast.dump(yours)


def _same_bytecode(ex: Exercise, answer) -> bool:
    namespace: dict = {}
    try:
        exec(compile(ex.stub, "<桩代码>", "exec"), namespace)
        stub, yours = namespace[ex.name].__code__, answer.__code__
    except Exception:
        return False
    consts = lambda code: [c for c in code.co_consts if not hasattr(c, "co_code")]  # noqa: E731
    return (stub.co_code, stub.co_names, stub.co_varnames, consts(stub)) == \
        (yours.co_code, yours.co_names, yours.co_varnames, consts(yours))


def _run(ex: Exercise, fn: Callable, args: tuple):
    return ex.harness(fn, *args) if ex.harness else fn(*args)


_CACHE: dict[tuple[Callable, int], Any] = {}  # (函数, id(用例)) → 结果：参考实现和错误写法都是确定的，算一次就够


def _cached(ex: Exercise, fn: Callable, case: Case):
    """fn 在这个用例上的结果；fn 抛出异常时，每次都抛出同一个异常。"""
    key = (fn, id(case))
    if key not in _CACHE:
        try:
            _CACHE[key] = (_run(ex, fn, case.args()), None)
        except Exception as e:
            _CACHE[key] = (None, e)
    value, error = _CACHE[key]
    if error is not None:
        raise error
    return value


def _known_mistake(ex: Exercise, case: Case, got, call: Callable) -> Wrong | None:
    """你的结果和哪种已知的错误写法一模一样？只在这个用例上碰巧一样不够：在其余用例上（那种写法答错的地方）
    和你一样的次数不能少于不一样的次数。几种都像时取最像的。"""
    candidates = [w for w in ex.wrong if _same(ex, w, case, got)]
    score = dict.fromkeys(map(id, candidates), 0)
    for other in ex.cases:
        if not candidates or other is case:
            continue
        try:
            yours = _run(ex, call, other.args())
        except Exception:
            continue
        expected = _cached(ex, ex.reference, other)
        for w in candidates:
            if not _same(ex, w, other, expected):  # 这种写法在这个用例上也答错：看你是不是错得一样
                score[id(w)] += 1 if _same(ex, w, other, yours) else -1
    best = max(candidates, key=lambda w: score[id(w)], default=None)
    return best if best is not None and score[id(best)] >= 0 else None


def _same(ex: Exercise, wrong: Wrong, case: Case, got) -> bool:
    try:
        theirs = _cached(ex, wrong.fn, case)
    except Exception:
        return False
    return theirs is not None and compare(theirs, got, *_tol(ex, case)) is None


def _exception_hint(ex: Exercise, case: Case, e: Exception) -> str:
    for wrong in ex.wrong:  # 已知的错误写法抛出同样的异常？
        try:
            _cached(ex, wrong.fn, case)
        except Exception as theirs:
            if type(theirs) is type(e) and str(theirs) == str(e):
                return wrong.hint
    msg = str(e).lower()
    if isinstance(e, NameError):
        return "这个名字没有定义：单元格顶部 import 了吗？拼写对吗？"
    if isinstance(e, KeyError):
        return "字典里没有这个键：查不到时应该用什么（dict.get(键, 默认值)）？"
    if isinstance(e, IndexError):
        return "下标越界：在出错的那一行前打印张量的形状和下标，对照任务说明。"
    if isinstance(e, ZeroDivisionError):
        return "除以了 0：分母可能为 0 的情况（空列表、没有有效位置）要单独处理吗？"
    if "view size is not compatible" in msg:
        return "view 要求张量在内存里连续：transpose 之后请用 .reshape(…)（或先 .contiguous() 再 view）。"
    if "must match the size" in msg:
        return ("两个张量的形状不能逐元素运算（广播失败）：求均值/求和后还要和原张量运算时，用 keepdim=True；"
                "其他情况在出错的那一行前打印各张量的 .shape。")
    if any(w in msg for w in ("shape", "size", "dimension", "broadcast")):
        return "形状对不上：在出错的那一行前打印各个张量的 .shape，对照任务说明里写的形状。"
    if isinstance(e, AttributeError):
        return "这个对象没有这个属性：打印 type(…) 看看它到底是什么。"
    if isinstance(e, TypeError):
        return "类型或参数个数不对：看看报错里提到的类型，对照任务说明的函数签名。"
    return _plain(ex)


def format_exception(e: BaseException, keep: int = 3) -> str:
    """几行就够的 traceback：去掉判题器自己和 Python/PyTorch 库内部的帧，最后一行是你自己的代码。"""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if _is_learner_frame(f.filename)][-keep:]
    lines = []
    for f in frames:
        learner = f.filename.startswith("<") or "ipykernel" in f.filename
        place = "你的单元格" if "ipykernel" in f.filename else (f.filename if learner else Path(f.filename).name)
        lines.append(f"  {place}，第 {f.lineno} 行，{f.name}：")
        if f.line:
            lines.append(f"    {f.line.strip()}")
    message = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if len(message) > 200:
        message = message[:200] + "…"
    lines.append(f"  {type(e).__name__}: {message}")
    return "\n".join(lines)


_LIBRARY_DIRS = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}
                      if len(Path(p).resolve().parts) > 1)  # Python 和已安装的库（torch……）所在的文件夹


def _is_learner_frame(filename: str) -> bool:
    if filename.startswith("<") or "ipykernel" in filename:
        return True  # notebook 单元格、exec 的代码
    path = str(Path(filename).resolve())
    if path.startswith(str(HERE)) and not path.startswith(str(HERE / "solutions")):
        return False  # 判题器自己
    return not path.startswith(_LIBRARY_DIRS) or "/site-packages/minigpt" in path


def describe_args(args: tuple) -> str:
    return "，".join(describe(a, 40, items=4) for a in args) if args else "（无）"


def _mutated(args, fresh) -> bool:
    """你的函数有没有原地改动传进来的张量、列表或字典（和一份新建的输入比）。"""
    if isinstance(args, torch.Tensor) and isinstance(fresh, torch.Tensor):
        return args.shape != fresh.shape or not torch.equal(args.detach(), fresh.detach())
    if isinstance(args, (list, tuple)) and isinstance(fresh, (list, tuple)):
        return len(args) != len(fresh) or any(_mutated(a, b) for a, b in zip(args, fresh))
    if isinstance(args, dict) and isinstance(fresh, dict):
        return args.keys() != fresh.keys() or any(_mutated(args[k], fresh[k]) for k in args)
    if isinstance(args, (int, str)) and isinstance(fresh, (int, str)):
        return args != fresh
    return False  # 模型等其它对象：不比较


# ------------------------------------------------------------------------------ 进度
def show_progress(chapter: int) -> None:
    """打印第 chapter 章练习的通过情况，例如“第 5 章练习：2/4 通过”。从不抛出异常。"""
    try:
        _show_progress(chapter)
    except Exception as e:
        print(f"显示进度时出错了（不是你的代码的问题）：{type(e).__name__}: {e}")


def _show_progress(chapter: int) -> None:
    exercises = chapter_exercises(chapter)
    if not exercises:
        print(f"第 {chapter} 章没有练习（练习在第 {CHAPTERS[0]}–{CHAPTERS[-1]} 章）。")
        return
    passed = progress.passed_ids()
    done = [ex for ex in exercises if ex.id in passed]
    print(f"第 {chapter} 章练习：{len(done)}/{len(exercises)} 通过")
    used = {ex.id: progress.hints_used(ex.id) for ex in done}
    with_hints = [f"{i}（{n} 步提示）" for i, n in used.items() if n]
    if with_hints:
        print("用过提示：" + "、".join(with_hints))
    left = [ex for ex in exercises if ex.id not in passed]
    if left:
        print("还没通过：" + "；".join(f"{ex.id} {ex.title}（{'★' * ex.stars}）" for ex in left))
    else:
        print("全部通过！")


# ------------------------------------------------------------------------------ notebook 单元格
def solution_link(ex: Exercise) -> str:
    return f"../minigpt/exercises/solutions/ch{ex.chapter:02d}.py"


def code_cell(ex: Exercise) -> str:
    """练习的代码单元格：桩代码 + （可选的）试运行 + check 那一行。"""
    parts = [ex.stub.strip()]
    if ex.tail.strip():
        parts.append(ex.tail.strip())
    parts.append(f'check("{ex.id}", {ex.name})')
    return "\n\n".join(parts) + "\n"


def markdown_cell(ex: Exercise) -> str:
    lines = [f"### 练习 {ex.id}　{ex.title}（{'★' * ex.stars}）", "", *ex.task.strip().splitlines(), "",
             f"对照：{ex.where}。卡住了运行 `hint(\"{ex.id}\")`（一次一步）；[参考答案]({solution_link(ex)})"]
    return "\n".join(lines)


def percent_cells(chapter: int) -> str:
    """第 chapter 章的练习单元格（jupytext py:percent 格式），notebook 作者直接粘贴。"""
    out = []
    for ex in chapter_exercises(chapter):
        md = "\n".join(f"# {line}" if line else "#" for line in markdown_cell(ex).splitlines())
        out.append(f"# %% [markdown]\n{md}\n\n# %%\n{code_cell(ex)}")
    out.append(f"# %%\nfrom minigpt.exercises import show_progress\n\nshow_progress({chapter})\n")
    return "\n".join(out)


def cell_with_solution(ex: Exercise, solution_source: str) -> str:
    """把代码单元格里的桩函数（或变量）换成 solution_source：检验 notebook 里的单元格和参考答案是一致的。"""
    code = code_cell(ex)
    for node in ast.parse(code).body:
        names = [node.name] if isinstance(node, ast.FunctionDef) else \
            [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        if ex.name in names:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
            lines = code.splitlines()
            return "\n".join(lines[:start] + solution_source.rstrip().splitlines() + lines[node.end_lineno:]) + "\n"
    raise ValueError(f"练习 {ex.id} 的单元格里找不到 {ex.name}")
