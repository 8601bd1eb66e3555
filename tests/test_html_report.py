"""The HTML report as a person sees it: opened in headless Chromium, sorted and filtered by clicks and keys."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cnnstat import analyze
from cnnstat.counting.graph import data_flow_graph

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through selenium, keeping the page's console log."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium and chromedriver are not installed (apt install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install cnnstat[test])")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def _errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def _write(cli, tmp_path: Path, *args: str) -> Path:
    path = tmp_path / "report.html"
    result = cli("report", *args, "--out", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_report_in_a_browser(cli, tmp_path, browser) -> None:
    from selenium.webdriver.common.by import By

    report = analyze("resnet18")
    path = _write(cli, tmp_path, "resnet18")
    text = path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the report fetches something"
    browser.get(path.as_uri())
    assert _errors(browser) == []
    rows = browser.find_elements(By.CSS_SELECTOR, "#layers-0 tbody tr")
    assert len(rows) == len(report.layers)
    nodes = browser.find_elements(By.CSS_SELECTOR, ".diagram svg g.node.layer")
    assert len(nodes) == len(report.layers)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".diagram svg g.node.join")) == 8  # resnet18's residual additions

    names = [row.find_element(By.CSS_SELECTOR, "td").text for row in rows]
    assert names == [layer.name for layer in report.layers]
    header = browser.find_element(By.CSS_SELECTOR, '#layers-0 th[data-column="macs"]')
    header.click()
    most = {layer.name for layer in report.layers if layer.macs == max(layer.macs for layer in report.layers)}
    least = {layer.name for layer in report.layers if layer.macs == 0}
    assert browser.find_elements(By.CSS_SELECTOR, "#layers-0 tbody tr td:first-child")[0].text in most
    assert browser.find_elements(By.CSS_SELECTOR, "#layers-0 tbody tr td:first-child")[-1].text in least
    header.click()  # again: the other way round
    assert browser.find_elements(By.CSS_SELECTOR, "#layers-0 tbody tr td:first-child")[0].text in least
    assert browser.find_elements(By.CSS_SELECTOR, "#layers-0 tbody tr td:first-child")[-1].text in most

    box = browser.find_element(By.CSS_SELECTOR, "input.filter")
    box.send_keys("downsample")
    visible = [row for row in browser.find_elements(By.CSS_SELECTOR, "#layers-0 tbody tr") if row.is_displayed()]
    assert len(visible) == sum("downsample" in layer.name for layer in report.layers) == 6

    svg = browser.find_element(By.CSS_SELECTOR, ".diagram svg")
    width = browser.execute_script("return arguments[0].getBoundingClientRect().width", svg)
    browser.find_element(By.CSS_SELECTOR, '.zoom button[data-zoom="1.25"]').click()
    assert browser.execute_script("return arguments[0].getBoundingClientRect().width", svg) == pytest.approx(1.25 * width, abs=1)
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert _errors(browser) == []


def test_comparison_page_and_depth(cli, tmp_path, browser) -> None:
    from selenium.webdriver.common.by import By

    path = _write(cli, tmp_path, "lenet5", "resnet18", "--depth", "1")
    browser.get(path.as_uri())
    assert _errors(browser) == []
    assert [row.find_element(By.CSS_SELECTOR, "td").text for row in browser.find_elements(By.CSS_SELECTOR, "#compared tbody tr")] == [
        "lenet5", "resnet18"]  # fmt: skip
    for index, model in enumerate(("lenet5", "resnet18")):
        groups = data_flow_graph(analyze(model), depth=1).layers
        diagram = browser.find_element(By.CSS_SELECTOR, f"#model-{index} .diagram svg")
        assert len(diagram.find_elements(By.CSS_SELECTOR, "g.node.layer")) == len(groups)
        assert len(browser.find_elements(By.CSS_SELECTOR, f"#layers-{index} tbody tr")) == len(analyze(model).layers)
    assert browser.save_screenshot(str(tmp_path / "compared.png"))


def test_measured_time_and_roofline(cli, tmp_path, browser) -> None:
    from selenium.webdriver.common.by import By

    report = analyze("lenet5")
    path = _write(cli, tmp_path, "lenet5", "--profile")
    browser.get(path.as_uri())
    assert _errors(browser) == []
    rows = browser.find_elements(By.CSS_SELECTOR, "#times-0 tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "td").text for row in rows] == [layer.name for layer in report.layers]
    assert browser.find_elements(By.CSS_SELECTOR, "#profile-0 .roofline svg")
    legend = browser.find_element(By.CSS_SELECTOR, "#model-0 .diagram svg g#legend").text
    assert "share of time" in legend  # with --profile the diagram is shaded by the measured time
    browser.find_element(By.XPATH, "//table[@id='times-0']//th[text()='Time (ms)']").click()
    times = [float(row.find_elements(By.CSS_SELECTOR, "td")[2].get_attribute("data-sort"))
             for row in browser.find_elements(By.CSS_SELECTOR, "#times-0 tbody tr")]  # fmt: skip
    assert times == sorted(times, reverse=True) and times[0] > 0


def test_check_verdicts_as_cnnstat_check_reports_them(cli, tmp_path) -> None:
    """``report --check`` shows the verdicts that ``cnnstat check -f json`` gives for the same model."""
    import json
    from html.parser import HTMLParser

    checked = cli("check", "lenet5", "-f", "json")
    assert checked.exit_code == 0, checked.output
    comparisons = json.loads(checked.stdout)[0]["comparisons"]
    text = _write(cli, tmp_path, "lenet5", "--check").read_text()

    class Section(HTMLParser):
        """The check section's summary line and the rows of its table, as text."""

        def __init__(self) -> None:
            super().__init__()
            self.summary, self.rows, self.where = "", [], None

        def handle_starttag(self, tag, attrs) -> None:
            if ("class", "check-summary") in attrs:
                self.where = "summary"
            elif tag == "tr" and self.where == "table":
                self.rows.append([])
            elif ("id", "checks-0") in attrs:
                self.where = "table"

        def handle_endtag(self, tag) -> None:
            if tag in ("p", "table"):
                self.where = None if self.where == "summary" or tag == "table" else self.where

        def handle_data(self, data) -> None:
            if self.where == "summary":
                self.summary += data
            elif self.where == "table" and self.rows:
                self.rows[-1].append(data)

    section = Section()
    section.feed(text)
    counts = {verdict: sum(c["verdict"] == verdict for c in comparisons) for verdict in ("agrees", "explained", "MISMATCH")}
    assert counts["explained"] > 0  # lenet5's sigmoid and bias that fvcore skips
    found = re.search(r"(\d+) comparisons: (\d+) agree, (\d+) explained, (\d+) mismatches", section.summary)
    assert found, section.summary
    assert [int(n) for n in found.groups()] == [len(comparisons), counts["agrees"], counts["explained"], counts["MISMATCH"]]
    body = section.rows[1:]  # the header row first
    assert len(body) == counts["explained"] + counts["MISMATCH"]
    shown = sorted((row[0], row[1], row[2], row[5]) for row in body)
    assert shown == sorted((c["layer"], c["reference"], c["quantity"], c["verdict"]) for c in comparisons
                           if c["verdict"] in ("explained", "MISMATCH"))  # fmt: skip
    rules = {rule for c in comparisons for rule, _ in c["rules"]}
    assert rules and all(rule in text for rule in rules)
