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
    browser.find_element(By.XPATH, "//table[@id='times-0']//th[text()='Time (ms)']").click()
    times = [float(row.find_elements(By.CSS_SELECTOR, "td")[2].get_attribute("data-sort"))
             for row in browser.find_elements(By.CSS_SELECTOR, "#times-0 tbody tr")]  # fmt: skip
    assert times == sorted(times, reverse=True) and times[0] > 0
