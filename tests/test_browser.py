"""The answer playground, an exercise and a quiz in a real browser: JupyterLab + Chromium (playwright), end to end.

    pytest tests/test_browser.py -m browser -p no:randomly -q -s

Starts `jupyter lab` on 127.0.0.1 (free port, token auth, its own settings/workspace/runtime dirs), opens a small
notebook (the shared set-up cell + notebook 07's playground cell, written to test-artifacts/), waits for the
kernel's `kernel_info_reply` on its websocket (a Run All issued before that is sometimes dropped), runs all
cells, types a question, clicks Generate and compares the streamed answer in the DOM with
`minigpt.generate.answer(...)` computed here for the same greedy settings. A screenshot goes to
test-artifacts/browser_playground.png.

The exercise and quiz test does what a learner does: Run All on a notebook holding exercise 5.2's stub cell and
`quiz(5)`; the stub reports "还没做"; it types the solution into the cell and runs it ("通过"), breaks it (forgets
the 1/√d) and runs it again (the hint); then clicks a wrong answer in the quiz, submits, reads the explanations,
clicks the right one ("正确！"). Screenshots: test-artifacts/browser_exercise.png, browser_quiz.png.

Both skip when Debian's chromium (/usr/bin/chromium) is not installed.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
SHIPPED = ROOT / "checkpoints" / "minigpt-idiom.pth"
QUESTION_FALLBACK = "画蛇添足是什么意思？"
BUDGET_S = 170  # the whole browser part (server, page, kernel, Run All, one answer); typically ~30-60 s

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, *, startup_timeout: float = 90):
    """Start JupyterLab in the background; yield (base_url, token, log_path); always stop it."""
    port, token = free_port(), "minigpt-browser-test"
    tmp = Path(tempfile.mkdtemp(prefix="minigpt-lab-"))
    settings = tmp / "settings"
    # No news/update pop-ups: they can cover the notebook and reach out to the network.
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp / "jupyter.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer in {startup_timeout} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, log_path
    finally:
        # The kernel is a child of the server: stop the whole process group (started with a new session).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def write_notebook(path: Path, cells: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def open_and_run_all(page, url: str, *, kernel_timeout: float = 90) -> None:
    """Open a notebook, wait until its kernel really answered (kernel_info_reply), then Run All."""
    ready = threading.Event()

    def on_frame(payload):
        data = payload if isinstance(payload, bytes) else payload.encode("utf-8", "replace")
        if b"kernel_info_reply" in data:
            ready.set()

    def on_websocket(ws):
        if "/api/kernels/" in ws.url:
            ws.on("framereceived", on_frame)

    page.on("websocket", on_websocket)
    page.goto(url, wait_until="domcontentloaded")  # the page's default timeout
    page.wait_for_selector(".jp-Notebook")
    deadline = time.monotonic() + kernel_timeout
    while not ready.is_set():  # playwright delivers events while we wait on the page
        if time.monotonic() > deadline:
            raise TimeoutError(f"no kernel_info_reply on the kernel websocket within {kernel_timeout} s")
        page.wait_for_timeout(200)
    page.locator(".jp-Notebook").first.click()  # focus the notebook so Run All applies to it
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def playground_cell() -> str:
    """Notebook 07's playground cell (the last cell that calls playground()), else the same call."""
    nb_path = next(iter(sorted((ROOT / "notebooks").glob("07_*.ipynb"))), None)
    if nb_path is not None:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for cell in reversed(nb["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "playground(" in source:
                return source
    return "from minigpt.playground import playground\npg = playground()"


def pick_question() -> str:
    """A question the model was trained on (a real answer, not just noise), else a fixed one."""
    for name in ("train.jsonl", "data.jsonl"):
        path = ROOT / "data" / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    q = json.loads(line).get("question")
                    if isinstance(q, str) and 0 < len(q) <= 30:
                        return q
    return QUESTION_FALLBACK


def test_playground_in_jupyterlab():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium); browser test skipped")
    pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    from minigpt import generate

    checkpoint = generate.default_checkpoint()
    if not Path(checkpoint).exists():
        pytest.skip(f"no checkpoint at {checkpoint}")
    check_playground_in_browser(checkpoint)


def check_playground_in_browser(checkpoint) -> None:
    from playwright.sync_api import sync_playwright

    import torch

    from minigpt import generate
    from minigpt.train import load_checkpoint, load_tokenizer

    torch.set_num_threads(1)  # like the playground generates on the CPU; and it leaves the cores to the kernel
    model, metadata = load_checkpoint(checkpoint, map_location="cpu")
    tokenizer = load_tokenizer(metadata)
    question = pick_question()
    expected = generate.answer(model.eval(), tokenizer, question, max_new_tokens=64, do_sample=False)
    del model

    ARTIFACTS.mkdir(exist_ok=True)
    nb_path = ARTIFACTS / "browser_playground.ipynb"
    setup = (ROOT / "tests" / "setup_cell.py").read_text(encoding="utf-8")
    # The same checkpoint as above, on the CPU like above (the notebook's default could differ by cwd or device).
    # The notebook's own call, whatever its arguments (playground() or playground(your_checkpoint)), pointed at it.
    cell = "from minigpt.playground import playground\n" + re.sub(
        r"\bplayground\([^()]*\)", f"playground(checkpoint={str(checkpoint)!r}, device='cpu')", playground_cell(), count=1)
    assert "checkpoint=" in cell, cell
    write_notebook(nb_path, [setup, cell])

    start = time.monotonic()

    def left_ms(cap_s: float) -> float:
        """Each wait gets at most cap_s, and all of them together at most BUDGET_S."""
        remaining = BUDGET_S - (time.monotonic() - start)
        if remaining <= 0:
            raise TimeoutError(f"the browser test ran past its {BUDGET_S} s budget")
        return 1000 * min(cap_s, remaining)

    with jupyter_lab(ROOT) as (base, token, log_path), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(left_ms(60))
            open_and_run_all(page, f"{base}/lab/tree/{nb_path.relative_to(ROOT).as_posix()}?token={token}",
                             kernel_timeout=left_ms(90) / 1000)
            question_box = page.locator(".minigpt-question input")
            error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            # the kernel imports torch and loads the checkpoint; a traceback ends the wait early
            question_box.or_(error).first.wait_for(state="visible", timeout=left_ms(120))
            if not question_box.is_visible():
                text = "\n".join(error.all_text_contents())
                if "Error" in text or "Traceback" in text:
                    raise AssertionError(f"the notebook failed:\n{text[-3000:]}")
                question_box.wait_for(state="visible", timeout=left_ms(120))  # only a warning on stderr
            question_box.fill(question)
            question_box.press("Tab")
            finished = "['首字延迟', '失败'].some(s => document.querySelector('.minigpt-status')?.textContent.includes(s))"
            clicked = time.monotonic()
            page.locator(".minigpt-generate").click()
            # as seen in the page: click → first streamed char (includes the browser ↔ kernel round trip)
            page.wait_for_function(f"() => document.querySelector('.minigpt-answer')?.textContent.length > 0 || {finished}",
                                   timeout=left_ms(60), polling="raf")
            seen_first = time.monotonic() - clicked
            page.wait_for_function(f"() => {finished}", timeout=left_ms(60))
            streamed = page.locator(".minigpt-answer").first.text_content()
            status = page.locator(".minigpt-status").first.text_content()
            echo = page.locator(".minigpt-echo").first.text_content()
            message = page.locator(".minigpt-message").first.text_content()
            page.screenshot(path=str(ARTIFACTS / "browser_playground.png"), full_page=True)
        except Exception:
            if page is not None:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / "browser_playground_failure.png"), full_page=True)
            print(Path(log_path).read_text()[-3000:])
            raise
        finally:
            browser.close()
    print(f"\nbrowser: {question!r} → {streamed!r}; kernel: {status}; first char seen in the page "
          f"{seen_first:.3f} s after the click; whole run {time.monotonic() - start:.0f} s")
    assert "失败" not in status, message
    assert echo == question
    assert streamed == expected


# ====================================================================== an exercise and a quiz, as a learner uses them
EXERCISE_ID = "5.1"  # chapter 5: attention with a sliding-window causal mask
EXERCISE_STUB = '''import math
import torch
from minigpt.exercises import check, hint


def my_attention(q, k, v, window):
    """q, k: (B, nh, T, hs)；v: (B, nh, T, hv)。位置 i 只看 i-window < j <= i。返回 (B, nh, T, hv)。"""
    raise NotImplementedError  # 在这里写你的代码

check("5.1", my_attention)'''
EXERCISE_SOLUTION = '''import math
import torch
from minigpt.exercises import check, hint


def my_attention(q, k, v, window):
    T = q.shape[-2]
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    visible = (j <= i) & (i - j < window)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~visible, float("-inf")).softmax(dim=-1) @ v

check("5.1", my_attention)'''
HINT_CELL = 'hint("5.1")'  # the learner asks for a hint: one step per run
# the learner forgets the 1/√d: the checker's hint names it
EXERCISE_BROKEN = EXERCISE_SOLUTION.replace(" / math.sqrt(q.shape[-1])", "")
QUIZ_CHAPTER = 5


def test_exercise_and_quiz_in_jupyterlab(tmp_path, monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium); browser test skipped")
    pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    exercises = pytest.importorskip("minigpt.exercises")
    if not hasattr(exercises, "check"):
        pytest.skip("minigpt.exercises.check has not landed yet")
    if EXERCISE_ID not in {ex.id for ex in exercises.all_exercises()}:
        pytest.skip(f"exercise {EXERCISE_ID} does not exist")
    monkeypatch.setenv("MINIGPT_PROGRESS", str(tmp_path / "progress.json"))  # the kernel inherits it: no ~/.minigpt
    check_exercise_and_quiz_in_browser()


def check_exercise_and_quiz_in_browser() -> None:
    from playwright.sync_api import sync_playwright

    from minigpt.exercises.quiz import chapter_questions

    question = chapter_questions(QUIZ_CHAPTER)[0]  # the first card of the quiz
    right = next(iter(sorted(question.answer)))
    wrong = next(letter for letter in question.letters if letter not in question.answer)
    wrong_why = question.options[question.letters.index(wrong)].why

    ARTIFACTS.mkdir(exist_ok=True)
    nb_path = ARTIFACTS / "browser_exercise_quiz.ipynb"
    setup = (ROOT / "tests" / "setup_cell.py").read_text(encoding="utf-8")
    write_notebook(nb_path, [setup, EXERCISE_STUB, HINT_CELL, f"from minigpt.exercises import quiz\n\nquiz({QUIZ_CHAPTER})"])

    start = time.monotonic()

    def left_ms(cap_s: float) -> float:
        remaining = BUDGET_S - (time.monotonic() - start)
        if remaining <= 0:
            raise TimeoutError(f"the browser test ran past its {BUDGET_S} s budget")
        return 1000 * min(cap_s, remaining)

    with jupyter_lab(ROOT) as (base, token, log_path), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(left_ms(60))
            open_and_run_all(page, f"{base}/lab/tree/{nb_path.relative_to(ROOT).as_posix()}?token={token}",
                             kernel_timeout=left_ms(90) / 1000)
            cells = page.locator(".jp-Notebook .jp-Cell")
            exercise = cells.nth(1)
            outputs = exercise.locator(".jp-OutputArea-output")
            error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")

            # Run All: the stub reports "not done yet" and how to ask, no hint, no traceback
            outputs.filter(has_text="还没做").or_(error).first.wait_for(timeout=left_ms(120))
            stub_text = exercise.inner_text()
            assert "还没做" in stub_text and 'hint("5.1")' in stub_text and "Traceback" not in stub_text, stub_text
            assert "💡" not in stub_text, stub_text

            # the hint cell below gave step 1 on Run All; running it again gives step 2
            hint_cell = cells.nth(2)
            hint_cell.locator(".jp-OutputArea-output").filter(has_text="提示 1/").first.wait_for(timeout=left_ms(60))
            hint_cell.locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")
            hint_cell.locator(".jp-OutputArea-output").filter(has_text="提示 2/").first.wait_for(timeout=left_ms(60))

            def type_and_run(code: str) -> None:
                editor = exercise.locator(".cm-content")
                editor.click()
                page.keyboard.press("Control+A")
                page.keyboard.press("Delete")
                page.keyboard.insert_text(code)  # one input event: no auto-indent or auto-closed brackets
                page.keyboard.press("Shift+Enter")

            # the learner types the solution and runs the cell: 通过
            type_and_run(EXERCISE_SOLUTION)
            outputs.filter(has_text="通过").first.wait_for(timeout=left_ms(60))
            passed = outputs.first.inner_text()
            assert "通过" in passed and "没通过" not in passed, passed

            # breaks it (forgets /√d), runs again: which case failed and the hint that names the mistake
            type_and_run(EXERCISE_BROKEN)
            outputs.filter(has_text="没通过").first.wait_for(timeout=left_ms(60))
            failed = outputs.first.inner_text()
            assert "提示" in failed and "√" in failed and "Traceback" not in failed, failed
            exercise.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_exercise.png"))

            # the quiz below: the text version is printed, the widget answers
            quiz_cell = cells.nth(3)
            card = quiz_cell.locator(".minigpt-quiz-card").first
            card.wait_for(timeout=left_ms(60))
            assert "不含答案" in quiz_cell.inner_text()
            card.locator(".minigpt-quiz-options label").filter(has_text=f"{wrong}. ").first.click()
            card.locator(".minigpt-quiz-submit").click()
            feedback = card.locator(".minigpt-quiz-feedback")
            feedback.filter(has_text="不对").wait_for(timeout=left_ms(30))
            wrong_feedback = feedback.inner_text()
            assert wrong_why[:20] in wrong_feedback, wrong_feedback  # why the chosen option is wrong
            assert all(o.why[:20] in wrong_feedback for o in question.options)  # every option explained
            card.locator(".minigpt-quiz-options label").filter(has_text=f"{right}. ").first.click()
            card.locator(".minigpt-quiz-submit").click()
            feedback.filter(has_text="正确！").wait_for(timeout=left_ms(30))
            assert "答对 1 题" in quiz_cell.locator(".minigpt-quiz-score").inner_text()
            card.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_quiz.png"))
        except Exception:
            if page is not None:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / "browser_exercise_quiz_failure.png"))
            print(Path(log_path).read_text()[-3000:])
            raise
        finally:
            browser.close()
    print(f"\nbrowser: exercise {EXERCISE_ID} stub → 还没做, hint() → step 1 then 2, solution → 通过, broken → hint; "
          f"quiz {question.id}: {wrong} → 不对, {right} → 正确; whole run {time.monotonic() - start:.0f} s")
