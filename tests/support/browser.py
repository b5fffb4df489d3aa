"""Headless Chromium through Selenium, with Debian's `chromium` and `chromium-driver` (the
test command installs them where missing). Selenium never downloads a browser or a driver
here: both are named by path."""

from __future__ import annotations

import shutil
from typing import Any

PHONE = (390, 844)
DESKTOP = (1280, 900)


def missing() -> str:
    """Why no browser test can run here ("" when they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for program, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install {package}; .ci/test.sh does)"
    return ""


def chromium(size: tuple[int, int] = DESKTOP) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root in containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-proxy-server",  # loopback only
        f"--window-size={size[0]},{size[1]}",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(shutil.which("chromedriver"))))
