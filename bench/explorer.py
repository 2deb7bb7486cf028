"""How the HTML explorer copes with long conversations: a generated capture of one conversation
of PACKETS packets (and the longest shared capture, when ../shared is beside the clone) replayed
to HTML, then opened in Debian's chromium (headless, through Playwright), its long fold opened
(by a link to a packet inside it), and scrolled from top to bottom.

For each page it prints: the replay's time and the page's size; the time from navigation to the
ladder drawn, and to the fold opened; while the ladder scrolls a screen at a time, the rows in the
page at once and the frame times (median, 95th percentile, worst) the browser took to draw each
step; and the JavaScript heap at the end.

    .venv/bin/python bench/explorer.py [PACKETS]
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "pcaps" / "public" / "http_ipv6_long_1000_requests.pcap"

SCROLL = """async () => {
    const box = document.getElementById("ladder"), frames = [];
    let rows = 0, last = performance.now();
    while (box.scrollTop + box.clientHeight < box.scrollHeight - 2) {
        box.scrollTop += box.clientHeight;
        await new Promise(requestAnimationFrame);
        const now = performance.now();
        frames.push(now - last); last = now;
        rows = Math.max(rows, document.querySelectorAll(".row").length);
    }
    return {frames, rows, height: box.scrollHeight};
}"""


def replayed(capture: Path, out: Path) -> tuple[Path, float]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "handshake_viz", "replay", str(capture), "--format", "html", "--out", str(out),
                    "--force"], check=True, capture_output=True)
    return out / f"{capture.stem}.html", time.perf_counter() - started


def measure(browser, page_file: Path, frames: int) -> dict:
    page = browser.new_page(viewport={"width": 1800, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    started = time.perf_counter()   # (the page's first row drawn: its data read, laid out, the graph drawn)
    page.goto(page_file.as_uri())
    page.wait_for_selector(".row")
    opened = time.perf_counter() - started
    started = time.perf_counter()
    page.evaluate(f"location.hash = '#c0-f{frames // 2}'")   # a packet inside the long fold: it opens
    page.wait_for_selector(".row.selected")
    expanded = time.perf_counter() - started
    page.eval_on_selector("#ladder", "box => box.scrollTop = 0")
    scrolled = page.evaluate(SCROLL)
    heap = page.evaluate("performance.memory.usedJSHeapSize")
    page.close()
    return {"opened": opened, "expanded": expanded, "heap": heap, "errors": errors, **scrolled}


def main(packets: int) -> None:
    from playwright.sync_api import sync_playwright

    from handshake_viz.wire.pcapfile import CaptureReader
    folder = Path(tempfile.mkdtemp(prefix="handshake-viz-explorer-"))
    try:
        generated = folder / "one-conversation.pcap"
        subprocess.run([sys.executable, str(REPO / "bench" / "generate.py"), str(generated), str(packets),
                        str(packets // 4)], check=True, capture_output=True)
        captures = [generated] + ([SHARED] if SHARED.exists() else [])
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            for capture in captures:
                page_file, seconds = replayed(capture, folder / "out")
                result = measure(browser, page_file, sum(1 for _ in CaptureReader(capture)))
                frames = sorted(result["frames"])
                print(f"{capture.name}: replay to HTML {seconds:.1f} s, page {page_file.stat().st_size / 1e6:.1f} MB; "
                      f"ladder drawn {result['opened'] * 1000:.0f} ms after navigation, its fold opened in "
                      f"{result['expanded'] * 1000:.0f} ms; scrolled {len(frames)} screens "
                      f"({result['height'] / 1e6:.2f} M pixels) with at most {result['rows']} rows in the page, "
                      f"frame times median {statistics.median(frames):.1f} ms, 95th percentile "
                      f"{frames[int(len(frames) * 0.95)]:.1f} ms, worst {frames[-1]:.1f} ms; "
                      f"JavaScript heap {result['heap'] / 1e6:.0f} MB"
                      + (f"; errors: {result['errors']}" if result["errors"] else ""))
            browser.close()
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
