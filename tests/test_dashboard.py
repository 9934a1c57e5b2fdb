"""The dashboard in a real browser: headless Chromium (through chromedriver) on a real server.

Needs Debian's `chromium` and `chromium-driver` (or any Chromium/Chrome with a matching
chromedriver on PATH) and the `selenium` package; skipped, saying which is missing, without.
"""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="needs selenium: pip install 'emolens[test]'"
)

from live_server import LiveServer  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.server.keys import KeyStore  # noqa: E402
from emolens.store import ResultStore  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver", "/usr/lib/chromium/chromedriver")


pytestmark = pytest.mark.usefixtures("isolated_settings")


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name) or (name if os.path.isfile(name) else None)
        if path:
            return path
    return None


def chromium(*flags: str):
    """Headless Chromium with ``flags`` added, or a skip that says what to install."""
    binary, driver = _find(BROWSERS), _find(DRIVERS)
    if binary is None:
        pytest.skip(f"no Chromium browser found (looked for {', '.join(BROWSERS)}); "
                    "Debian: apt-get install chromium chromium-driver")
    if driver is None:
        pytest.skip(f"Chromium at {binary} but no chromedriver; Debian: apt-get install "
                    "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1700", "--lang=en-US", *flags):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=webdriver.ChromeService(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, or a skip that says what to install."""
    chrome = chromium()
    yield chrome
    chrome.quit()



def _total(driver) -> str:
    return driver.find_element(By.ID, "stats-summary").get_attribute("data-total")


def test_paste_texts_see_results_and_charts_update(browser, tmp_path):
    db = str(tmp_path / "dashboard.db")
    with ResultStore(db) as store:
        key = KeyStore(store).create("browser")[1]
    wait = WebDriverWait(browser, 60)
    with LiveServer(create_app(ServerSettings(db=db, rate_limit=0))) as server:
        browser.get(server.url + "/")
        # Auth is on: the page asks for a key, then loads the (empty) statistics.
        wait.until(lambda d: d.find_element(By.ID, "key-panel").is_displayed())
        browser.find_element(By.ID, "key-input").send_keys(key)
        browser.find_element(By.ID, "key-save").click()
        wait.until(lambda d: _total(d) == "0")

        browser.find_element(By.ID, "texts").send_keys(
            "I am so happy today, best day ever!\n气死我了，快递又丢了！")
        browser.find_element(By.ID, "group-in").send_keys("web")
        browser.find_element(By.ID, "analyze-btn").click()
        rows = "#results-table tbody tr"
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 2)
        labels = [r.get_attribute("data-label")
                  for r in browser.find_elements(By.CSS_SELECTOR, rows)]
        assert labels == ["joy", "anger"]
        assert len(browser.find_elements(By.CSS_SELECTOR, f"{rows} .bar")) == 14

        # The stored results reach the charts: two items, one joy and one anger.
        wait.until(lambda d: _total(d) == "2")
        counts = browser.execute_script(
            "const gd = document.getElementById('chart-distribution');"
            "return [gd.data[0].customdata, gd.data[0].text];")
        assert dict(zip(*counts, strict=True)) == {
            "anger": "1", "disgust": "0", "fear": "0", "joy": "1", "sadness": "0",
            "surprise": "0", "neutral": "0"}
        groups = browser.execute_script(
            "return document.getElementById('chart-heatmap').data[0].x;")
        assert groups == ["web (n=2)"]

        # Drill down: click the joy bar and see the item behind it.
        bars = browser.find_elements(By.CSS_SELECTOR, "#chart-distribution g.point path")
        ActionChains(browser).move_to_element(bars[3]).click().perform()
        wait.until(lambda d: d.find_element(By.ID, "drill").is_displayed())
        drilled = browser.find_elements(By.CSS_SELECTOR, "#drill-table tbody tr")
        assert len(drilled) == 1 and "best day ever" in drilled[0].text

        browser.find_element(By.ID, "lang-toggle").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#analyze h2").text == "分析文本")
        assert "喜悦" in browser.find_element(By.CSS_SELECTOR, rows).text
        assert browser.find_element(By.ID, "drill-title").text.startswith("明细：喜悦")
        shot = tmp_path / "dashboard.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_alerts_panel_lists_stored_alerts_newest_first(browser, tmp_path):
    from datetime import UTC, datetime, timedelta

    from emolens.store.tables import add_alert

    db = str(tmp_path / "alerts.db")
    with ResultStore(db) as store:
        key = KeyStore(store).create("browser")[1]
    wait = WebDriverWait(browser, 60)
    rows = "#alerts-table tbody tr"
    with LiveServer(create_app(ServerSettings(db=db, rate_limit=0))) as server:
        browser.get(server.url + "/")
        wait.until(lambda d: d.find_element(By.ID, "key-panel").is_displayed())
        browser.find_element(By.ID, "key-input").send_keys(key)
        browser.find_element(By.ID, "key-save").click()
        wait.until(lambda d: d.find_element(By.ID, "alerts-empty").is_displayed())
        assert "emolens watch" in browser.find_element(By.ID, "alerts-empty").text

        # `emolens watch` fires two alerts while the page is open: the panel checks again.
        now = datetime.now(UTC)
        with ResultStore(db) as store:
            for rule, ago, failed in (("anger spike", 0, {"ops": "HTTP 500"}),
                                      ("fear spike", 60, {})):
                add_alert(store.engine, rule=rule, label=rule.split()[0], share=0.42,
                          baseline=0.1, items=57, message=f"{rule}: fired",
                          created_at=now - timedelta(minutes=ago),
                          details={"delivered": ["log"], "failed": failed})
        # Read in one script: a refresh redraws the rows.
        shown = "return [...document.querySelectorAll(arguments[0])].map(r => [r.dataset.rule, " \
            "r.innerText])"
        found = wait.until(lambda d: len(got := d.execute_script(shown, rows)) == 2 and got)
        assert [rule for rule, _ in found] == ["anger spike", "fear spike"]
        assert "anger: 42% of 57 items (baseline 10%)" in found[0][1]
        assert "anger spike: fired" in found[0][1] and "not sent: ops" in found[0][1]
        assert not browser.find_element(By.ID, "alerts-empty").is_displayed()

        browser.find_element(By.ID, "lang-toggle").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#alerts h2").text == "告警")
        assert "愤怒：占 57 条中的 42%" in browser.execute_script(shown, rows)[0][1]

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_a_warning_names_mixed_models_and_the_model_filter_picks_one(browser, tmp_path):
    import httpx

    db = str(tmp_path / "mixed.db")
    settings = ServerSettings(db=db, auth=False, rate_limit=0, model="default",
                              extra_models=["ngram"])
    wait = WebDriverWait(browser, 60)
    with LiveServer(create_app(settings)) as server:
        ids = {}
        for model, texts in (("default", ["I am so happy today!", "This makes me furious",
                                          "今天真开心", "我好害怕明天的考试"]),
                             ("ngram", ["so sad now", "what a surprise"])):
            reply = httpx.post(f"{server.url}/v1/analyze/text", timeout=60,
                               json={"texts": texts, "model": model, "store": True}).json()
            assert reply["stored"] == len(texts)
            ids[model] = reply["model"]
        browser.get(server.url + "/")
        wait.until(lambda d: _total(d) == "6")
        warning = browser.find_element(By.ID, "models-warning")
        assert warning.is_displayed()
        assert warning.text.startswith(
            f"Mixed models: the 6 text results come from 2 models: {ids['default']} (4), "
            f"{ids['ngram']} (2). The charts pool them")

        browser.find_element(By.ID, "lang-toggle").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#explore h2").text != "Explore "
                   "stored results")
        assert warning.text.startswith("模型混用：6 条文本结果来自 2 个模型")
        browser.find_element(By.ID, "lang-toggle").click()

        # The model filter lists both; one model alone draws no warning.
        options = browser.execute_script(
            "return [...document.getElementById('f-model').options].map(o => o.value);")
        assert options == ["", *sorted(ids.values())]
        Select(browser.find_element(By.ID, "f-model")).select_by_value(ids["default"])
        browser.find_element(By.ID, "f-apply").click()
        wait.until(lambda d: _total(d) == "4")
        assert not warning.is_displayed()
        counts = browser.execute_script(
            "return document.getElementById('chart-distribution').data[0].text;")
        assert sum(map(int, counts)) == 4

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
