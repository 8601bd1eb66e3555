"""Regenerate the pictures of docs/diagrams.md with the repository's own commands: .venv/bin/python scripts/docs_images.py

The LeNet-5 and ResNet-50 diagrams come from ``cnnstat graph``, the comparison from ``compare --plot``; the report's screenshot is ``cnnstat report``
opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by selenium).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
CNNSTAT = [sys.executable, "-m", "cnnstat"]


def run(*args: str) -> None:
    print("$ cnnstat", " ".join(args), flush=True)
    subprocess.run([*CNNSTAT, *args], check=True)


def screenshot(page: Path, picture: Path) -> None:
    """The page as a browser window of 1280×1000 shows it."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))
    try:
        driver.get(page.as_uri())
        driver.find_element("css selector", '.zoom button[data-zoom="fit"]').click()  # the graph as wide as its panel
        driver.save_screenshot(str(picture))
    finally:
        driver.quit()


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    run("graph", "lenet5", "--out", str(IMAGES / "lenet5.svg"))
    run("graph", "resnet50", "--depth", "2", "--out", str(IMAGES / "resnet50-depth2.svg"))
    run("compare", "lenet5", "alexnet", "resnet18", "googlenet", "--plot", str(IMAGES / "compare.png"))
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        run("report", "resnet18", "--depth", "2", "--out", str(page))
        screenshot(page, IMAGES / "report.png")
    print(f"wrote {IMAGES}")


if __name__ == "__main__":
    main()
