"""The seed pages, opened in a real browser (the distribution's Chromium driven by Playwright):
what a person sees, not the HTML text. Screenshots are kept as artifacts in the directory
``screenshots`` names (under --umi-seed-output when given, which CI uploads)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from umi_dst.cli import main
from umi_dst.export import script as export
from umi_dst.html.seed_page import page_path, render_file, write_beside
from umi_dst.pytest_plugin.plugin import SEED_OUTPUT_OPTION

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
SEQUENTIAL = ROOT / "seeds/lance-upstream/unescaped-quote-in-id-filter.json"
CRASH_POINT = ROOT / "seeds/lance-upstream/killed-batch-half-applied.json"
PARALLEL = ROOT / "seeds/lance/parallel-281db046322c.json"
BENCH = ROOT / "reports/bench-20261129-1230-vm.json"
THREE_BUGS = "umi_dst.selftest.three_bugs:factory"


def bench_copy(directory: Path, name: str, host: str, created: str, backends: list[str]) -> Path:
    """The committed bench report as if made on ``host`` at ``created`` over ``backends``."""
    data = json.loads(BENCH.read_text())
    data["machine"]["hostname"], data["created_utc"] = host, created
    data["config"]["backends"] = backends
    path = directory / name
    path.write_text(json.dumps(data))
    return path


def ensure_chromium() -> Path:
    """The distribution's Chromium, installed with apt-get when missing; the tests fail (never
    skip) with the reason when it cannot be."""
    if not CHROMIUM.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        install = ["apt-get", "install", "-y", "chromium"]
        if subprocess.run(install, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True)
            subprocess.run(install, capture_output=True)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing and could not be installed (run as root: apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture
def browser(pages):
    """Started after the pages are rendered, and stopped after each test: Playwright's sync API
    runs an event loop in this thread while it lives, and LanceDB's sync API refuses to run
    inside one, so a browser kept for the session broke every Lance test xdist ran after it."""
    executable = ensure_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]' -c constraints.txt")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory) -> Path:
    output = request.config.getoption(SEED_OUTPUT_OPTION, None)
    directory = Path(output) / "html-screenshots" if output else tmp_path_factory.mktemp("html-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def pages(tmp_path_factory) -> dict[str, Path]:
    """One page per kind, rendered once from the repository's seeds."""
    out = tmp_path_factory.mktemp("pages")
    return {
        kind: render_file(seed, out / f"{kind}.html")
        for kind, seed in (("sequential", SEQUENTIAL), ("crash", CRASH_POINT), ("parallel", PARALLEL))
    }


@pytest.fixture(scope="session")
def campaign_page(tmp_path_factory) -> Path:
    """A small campaign's HTML report, against a backend with three planted bugs (so the pages
    of its seeds are written beside them)."""
    campaign = tmp_path_factory.mktemp("campaign")
    (campaign / "reports").mkdir()
    bench = bench_copy(
        campaign / "reports",
        "bench-20261129-1230-here.json",
        socket.gethostname(),
        "2026-11-29T12:30:06+00:00",
        ["sim", THREE_BUGS],
    )
    bench.with_suffix(".md").write_text("# the bench's report\n")
    old = os.getcwd()
    os.chdir(campaign)  # the report names seeds by the path the campaign wrote them at
    try:
        main(
            [
                "run",
                "--backend",
                THREE_BUGS,
                "--examples",
                "12",
                "--seed",
                "1",
                "--workers",
                "1",
                "--seeds-dir",
                "seeds",
                "--report-dir",
                "reports",
            ]
        )
    finally:
        os.chdir(old)
    return next((campaign / "reports").glob("*.html"))


def opened(browser, path: Path, errors: list[str]):
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request",
        lambda request: errors.append(f"fetched {request.url}") if not request.url.startswith("file:") else None,
    )
    page.goto(path.as_uri())
    return page


def in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= VIEWPORT["height"]


def test_a_sequential_seed_shows_its_divergence_without_scrolling(browser, pages, screenshots):
    errors: list[str] = []
    page = opened(browser, pages["sequential"], errors)
    assert page.evaluate("window.scrollY") == 0, "the short timeline needs no scroll"
    diverged = page.locator(".step.diverged")
    assert diverged.count() == 1 and in_viewport(page, ".step.diverged")
    assert "invalid SQL predicate" in diverged.inner_text()
    assert "delete(id=" in diverged.inner_text(), "the failing step shows its arguments"
    assert "FAIL on lance-upstream at step 1" in page.locator("#verdict").inner_text()
    page.locator(".step").first.click()
    assert "store after this step" in page.locator("#detail").inner_text(), "a click opens the store's state"
    page.screenshot(path=screenshots / "sequential.png")
    assert errors == []


def test_a_crash_point_shows_the_file_operations_and_what_each_state_read(browser, pages, screenshots):
    errors: list[str] = []
    page = opened(browser, pages["crash"], errors)
    assert in_viewport(page, ".step.diverged"), "the divergence is scrolled into view"
    assert page.locator("table.ops tr.died").count() == 1, "where the process died is marked"
    assert page.locator("table.ops tr.done").count() + page.locator("table.ops tr.never").count() >= 1
    assert page.locator("table.files tr").count() > 1, "the files as they stood are listed"
    failed = page.locator("table.states tr.failed")
    assert failed.count() == 1 and "old" in failed.inner_text() and "new" in failed.inner_text(), (
        "the mixed state is marked"
    )
    page.locator("#crash").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "crash-point.png", full_page=True)
    assert errors == []


def test_a_parallel_seed_draws_every_client_track_and_a_calls_arguments_on_hover(browser, pages, screenshots):
    errors: list[str] = []
    page = opened(browser, pages["parallel"], errors)
    tracks = page.locator(".track")
    assert tracks.count() == 4 + 1, "4 clients and the read-back"
    for track in range(tracks.count()):
        assert tracks.nth(track).locator(".bar").count() >= 1, f"track {track} draws its calls"
        assert tracks.nth(track).bounding_box()["height"] > 10
    bar = page.locator('.track[data-client="3"] .bar').first
    bar.hover()
    tooltip = page.locator("#tooltip")
    assert tooltip.is_visible()
    assert "client 3" in tooltip.inner_text() and "store(id='d', embedding=Random(seed=3))" in tooltip.inner_text()
    page.screenshot(path=screenshots / "parallel.png")
    assert errors == []


def test_a_parallel_seeds_tracks_are_its_recorded_run(browser, pages):
    """The seed holds the run it failed with: the page draws that run (every call on its
    client's track, at its recorded moments) and marks the calls its failure names."""
    import re

    from umi_dst.seedfiles import parallel_seeds

    seed = parallel_seeds.load(PARALLEL)
    calls = seed.history.calls
    errors: list[str] = []
    page = opened(browser, pages["parallel"], errors)
    verdict = page.locator("#verdict").inner_text()
    assert verdict.startswith("FAIL on lance (the recorded run)") and "cannot be ordered" in verdict
    for client in range(len(seed.clients) + 1):
        drawn = page.locator(f'.track[data-client="{client}"] .bar')
        recorded = [i for i, call in enumerate(calls) if call[0] == client]
        assert sorted(int(drawn.nth(k).get_attribute("data-i")) for k in range(drawn.count())) == recorded
    named = sorted(int(i) for i in re.findall(r"^  #(\d+) ", seed.failure["message"], re.MULTILINE))
    core = page.locator(".bar.core")
    assert len(named) == 2 and sorted(int(core.nth(k).get_attribute("data-i")) for k in range(core.count())) == named
    boxes = {i: page.locator(f'.bar[data-i="{i}"]').bounding_box() for i in range(len(calls))}
    end = max(call[2] for call in calls)
    scale = max(box["x"] + box["width"] for box in boxes.values()) - min(box["x"] for box in boxes.values())
    origin = min(box["x"] for box in boxes.values())
    for i, (_, invoked, completed, *_) in enumerate(calls):
        assert abs(boxes[i]["x"] - origin - invoked / end * scale) < 2, f"call {i} starts where it was invoked"
        if completed - invoked > end / 100:  # shorter bars are drawn at their minimum width
            assert abs(boxes[i]["width"] - (completed - invoked) / end * scale) < 2, f"call {i} lasts as recorded"
    assert errors == []


def big_history(calls: int, clients: int = 16):
    """``calls`` overlapping stores and gets by ``clients`` clients, each get reading what its
    client stored last (a linearizable history, as a long passing run records)."""
    import numpy as np

    from umi_dst.concurrency.history import Call, History, Planned
    from umi_dst.operations import Get, Store
    from umi_dst.recipes import Random

    vector = np.ones(8, np.float32)
    made = []
    for i in range(calls):
        client, id = i % clients, f"id-{i % clients}-{i // (2 * clients)}"
        start = (i // clients) * 1_000_000 + client * 37_000
        if (i // clients) % 2 == 0:
            planned, value = Planned(Store(id, Random(i)), "store", (id, vector)), None
        else:
            planned, value = Planned(Get(id), "get", (id,)), vector
        made.append(Call(client, planned, start, start + 1_500_000, value))
    return History(8, {}, made)


@pytest.mark.slow
def test_a_10000_call_history_makes_a_small_page_that_opens_fast(browser, tmp_path, screenshots):
    from umi_dst.html import page as shell
    from umi_dst.html import parallel

    history = big_history(10_000)
    path = shell.write(tmp_path / "big.html", parallel.render(history, "10,000 calls", "", "PASS", [], [], None))
    size = path.stat().st_size
    errors: list[str] = []
    opened_in = []
    for _ in range(3):  # the best of three: the machine's other load is not the page's cost
        tab = browser.new_page(viewport=VIEWPORT)
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(path.as_uri(), wait_until="load")
        opened_in.append(tab.evaluate("performance.timing.loadEventEnd - performance.timing.navigationStart") / 1000)
        assert tab.locator(".bar").count() == 10_000
    seconds = min(opened_in)
    print(
        f"10,000-call page: {size} bytes, opened and drawn (load event, scripts run) in {seconds:.2f} s, best of {opened_in}"
    )
    tab.screenshot(path=screenshots / "parallel-10000.png")
    assert errors == []
    assert size < 5_000_000, size
    assert seconds < 2.0, seconds


@pytest.mark.slow
def test_the_campaign_page_gives_each_bug_a_link_to_its_seeds_page_and_charts_its_coverage(
    campaign_page, browser, screenshots
):
    errors: list[str] = []
    page = opened(browser, campaign_page, errors)
    assert "FAIL" in page.locator("#verdict").inner_text()
    assert "FAIL" in page.locator("table.backends td.fail").inner_text()
    bugs = page.locator("table.bugs tr").count() - 1
    links = page.locator("a.seed-page")
    assert bugs >= 1 and links.count() == bugs, "every bug links the page written beside its seed"
    assert page.locator(".backend .charts svg").count() == 4, "operations, faults, dimensions, sizes and ties"
    assert page.locator(".charts svg").first.bounding_box()["width"] > 200
    bench_charts = page.locator(".bench .charts > div")
    drawn = sorted(bench_charts.nth(i).get_attribute("data-chart") for i in range(bench_charts.count()))
    assert drawn == sorted(json.loads(BENCH.read_text())["charts"]), "the bench's charts, where it ran"
    assert page.locator(".bench svg").last.bounding_box()["width"] > 200
    assert page.locator("a.bench-report").get_attribute("href") == "bench-20261129-1230-here.md"
    page.screenshot(path=screenshots / "campaign.png", full_page=True)
    links.first.click()
    page.wait_for_load_state("load")
    assert page.locator(".step.diverged, .step#final").count() == 1, "the link opens the seed's timeline"
    assert in_viewport(page, ".step.diverged, .step#final")
    assert errors == []


def test_the_campaign_page_takes_the_newest_bench_of_its_host_over_its_backends(tmp_path):
    from umi_dst.html.bench_section import newest_bench, section

    here = socket.gethostname()
    bench_copy(tmp_path, "bench-20261201-0000-here.json", here, "2026-12-01T00:00:00+00:00", ["sim", "lance"])
    bench_copy(tmp_path, "bench-20261202-0000-here.json", here, "2026-12-02T00:00:00+00:00", ["lance"])
    bench_copy(
        tmp_path, "bench-20261203-0000-elsewhere.json", "elsewhere", "2026-12-03T00:00:00+00:00", ["sim", "lance"]
    )
    bench_copy(tmp_path, "bench-20261204-0000-here.json", here, "2026-12-04T00:00:00+00:00", ["x"])
    (tmp_path / "bench-20261205-0000-here.json").write_text("{not json")
    path, bench = newest_bench(tmp_path, here, ["lance"])
    assert path.name == "bench-20261202-0000-here.json", "the newest of this host's benches over lance"
    assert newest_bench(tmp_path, here, ["x"])[0].name == "bench-20261204-0000-here.json"
    assert newest_bench(tmp_path, here, ["umi_dst.selftest.three_bugs:factory"]) is None
    assert newest_bench(tmp_path, "elsewhere", ["sim"])[0].name == "bench-20261203-0000-elsewhere.json"
    text = section(path, bench, tmp_path)
    assert text.count("<svg") == len(bench["charts"]) == 3 and "bench-report" not in text
    path.with_suffix(".md").write_text("# report\n")
    assert 'href="bench-20261202-0000-here.md"' in section(path, bench, tmp_path)


def test_the_bug_report_links_the_page_written_beside_the_seed(pages, tmp_path):
    seed = tmp_path / SEQUENTIAL.name
    shutil.copy(SEQUENTIAL, seed)
    before = " ".join(
        export.write(export.export_file(seed), tmp_path / "before.py")[1].read_text(encoding="utf-8").split()
    )
    assert f"(make it with `umi-dst replay {seed} --html {page_path(seed)}`)" in before
    with ThreadPoolExecutor(1) as thread:  # away from the browser's event loop, which LanceDB refuses to share
        assert thread.submit(write_beside, seed).result() == page_path(seed) and page_path(seed).stat().st_size > 1000
    after = " ".join(
        export.write(export.export_file(seed), tmp_path / "after.py")[1].read_text(encoding="utf-8").split()
    )
    assert f"[{page_path(seed).name}]({page_path(seed).as_posix()})." in after and "make it with" not in after


def test_a_history_that_cannot_be_ordered_marks_the_calls_and_the_longest_prefix(browser, tmp_path, screenshots):
    """Client 0 stores 'x' and returns; only then does client 1 read it, and finds nothing."""
    import numpy as np

    from umi_dst.concurrency import linearizability
    from umi_dst.concurrency.history import Call, History, Planned
    from umi_dst.html import page as shell
    from umi_dst.html import parallel
    from umi_dst.html.seed_page import longest_linearizable_prefix
    from umi_dst.operations import Get, Store
    from umi_dst.recipes import Random

    vector = np.ones(8, np.float32)
    calls = [
        Call(1, Planned(Get("y"), "get", ("y",)), 0, 1_000_000, None),
        Call(0, Planned(Store("x", Random(0)), "store", ("x", vector)), 2_000_000, 3_000_000, None),
        Call(1, Planned(Get("x"), "get", ("x",)), 4_000_000, 5_000_000, None),
        Call(0, Planned(Get("x"), "get", ("x",)), 6_000_000, 7_000_000, vector),
    ]
    history = History(8, {}, calls)
    with pytest.raises(linearizability.NotLinearizable) as raised:
        linearizability.check(history, atol=1e-4, exact=True)
    prefix = longest_linearizable_prefix(history, atol=1e-4, exact=True)
    assert prefix == 2, "the store and the read before it can be ordered; the read after it cannot"
    text = parallel.render(
        history, "cannot be ordered", "", str(raised.value), raised.value.core, raised.value.optional, prefix
    )
    errors: list[str] = []
    page = opened(browser, shell.write(tmp_path / "unordered.html", text), errors)
    core = page.locator(".bar.core")
    assert sorted(int(core.nth(i).get_attribute("data-i")) for i in range(core.count())) == sorted(raised.value.core)
    assert page.locator(".bar.outside").count() == 2 and page.locator(".prefix").is_visible()
    assert "cannot be ordered" in page.locator("#verdict").inner_text()
    page.screenshot(path=screenshots / "parallel-unordered.png")
    assert errors == []
