"""The web gallery in a real browser: headless Chromium through Selenium against the running
server (aiohttp on loopback, a real Redis). The gallery lists the pieces made in the test,
a piece page shows its provenance and chain, a challenge hides its votes until it closes,
expired and forged links are refused, a deleted piece is gone, and the pages work from the
keyboard and at a phone's width without horizontal scrolling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bot.community.gallery import GalleryStore
from bot.queue.streams import JobQueue
from bot.web.app import make_app
from bot.web.links import Links
from tests.support import browser
from tests.support.web_gallery import BOB_ID, PLATFORM, SERVER, make_gallery, to_closed, to_voting

pytestmark = [
    pytest.mark.skipif(bool(browser.missing()), reason=browser.missing() or "ok"),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    driver = browser.chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def site(queue: JobQueue) -> AsyncIterator[tuple[str, Links]]:
    """The gallery on a loopback port: (its address, the links that open it)."""
    links = Links(queue.redis, keys=queue.keys, secret=SecretStr("browser key"), ttl_s=600)
    server = TestServer(make_app(queue.redis, links), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), links
    finally:
        await server.close()


async def open_page(driver: Any, url: str) -> None:
    await asyncio.to_thread(driver.get, url)


async def signed(site: tuple[str, Links], now: float | None = None) -> str:
    address, links = site
    return address + (await links.signed_url(PLATFORM, SERVER, now=now)).removeprefix(
        links.base_url
    )


def hrefs(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [str(e.get_attribute("href")) for e in driver.find_elements(By.CSS_SELECTOR, css)]


def text(driver: Any, css: str = "main") -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


async def test_the_gallery_lists_the_pieces_with_alt_text_and_keyboard_navigation(
    queue: JobQueue, site: tuple[str, Links], chromium: Any
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    made = await make_gallery(queue)
    await open_page(chromium, await signed(site))
    listed = hrefs(chromium, "#pieces li.card > a")
    assert [h.rsplit("/", 1)[1] for h in listed] == [made.image.id, made.remix.id, made.poem.id]
    images = chromium.find_elements(By.TAG_NAME, "img")
    assert images and all(i.get_attribute("alt") for i in images)
    loaded = "return arguments[0].complete && arguments[0].naturalWidth > 0"
    wait = WebDriverWait(chromium, 10)  # polled off the loop: the images come from its server
    await asyncio.to_thread(wait.until, lambda d: all(d.execute_script(loaded, i) for i in images))
    keyboard = ActionChains(chromium)
    await asyncio.to_thread(keyboard.send_keys(Keys.TAB).perform)  # first stop: the skip link
    assert chromium.switch_to.active_element.text == "Skip to the content"
    await asyncio.to_thread(keyboard.send_keys(Keys.TAB).perform)  # then the navigation
    assert chromium.switch_to.active_element.text == "Gallery"
    Select(chromium.find_element(By.NAME, "kind")).select_by_value("image")
    button = chromium.find_element(By.CSS_SELECTOR, ".filters button")
    await asyncio.to_thread(button.click)  # the filter form submits without a script
    shown = [h.rsplit("/", 1)[1] for h in hrefs(chromium, "#pieces li.card > a")]
    assert shown == [made.image.id] and "kind=image" in chromium.current_url


async def test_a_piece_page_shows_provenance_and_its_chain(
    queue: JobQueue, site: tuple[str, Links], chromium: Any
) -> None:
    from selenium.webdriver.common.by import By

    made = await make_gallery(queue)
    await open_page(chromium, f"{await signed(site)}piece/{made.poem.id}")
    made_with = text(chromium, ".provenance")
    assert "org/poet" in made_with and str(made.poem.seed) in made_with
    assert "Keats; Shelley" in made_with
    chain = text(chromium, "section[aria-labelledby=chain]")
    assert "What came after it" in chain and "by Bob" in chain
    link = chromium.find_element(By.CSS_SELECTOR, f".chain a[href$='{made.remix.id}']")
    await asyncio.to_thread(link.click)
    assert "It came after" in text(chromium) and "by Alice" in text(chromium)
    assert chromium.current_url.endswith(made.remix.id)


async def test_a_challenge_page_hides_votes_until_it_closes(
    queue: JobQueue, site: tuple[str, Links], chromium: Any
) -> None:
    made = await make_gallery(queue)
    url = f"{await signed(site)}challenge/{made.challenge.id}"
    await open_page(chromium, url)
    assert "2 entries so far" in text(chromium) and "salt wind" not in text(chromium)
    await to_voting(queue, made)
    await open_page(chromium, url)
    assert "salt wind" in text(chromium) and not hrefs(chromium, ".votes")
    assert " votes" not in text(chromium, "ol.entries")
    await to_closed(queue, made)
    await open_page(chromium, url)
    assert "2 votes" in text(chromium, "ol.entries") and "#1" in text(chromium, "ol.entries")


async def test_expired_and_forged_links_are_refused(
    queue: JobQueue, site: tuple[str, Links], chromium: Any
) -> None:
    await make_gallery(queue)
    await open_page(chromium, await signed(site, now=time.time() - 3600))
    assert "This link has expired" in text(chromium, ".refusal")
    good = await signed(site)
    head, _, signature = good.rstrip("/").rpartition(".")
    await open_page(chromium, f"{head}.{signature[::-1]}/")
    assert "signature does not match" in text(chromium, ".refusal")
    await open_page(chromium, good + "?page=424242")
    assert "There is no page 424242" in text(chromium, ".refusal")


async def test_a_deleted_piece_is_gone_and_pages_fit_a_phone(
    queue: JobQueue, site: tuple[str, Links], chromium: Any
) -> None:
    made = await make_gallery(queue)
    base = await signed(site)
    await open_page(chromium, f"{base}piece/{made.remix.id}")
    assert "lanterns on black water" in text(chromium)
    await GalleryStore(queue.redis, keys=queue.keys).delete(
        PLATFORM, SERVER, made.remix.id, BOB_ID, admin=False
    )
    await asyncio.to_thread(chromium.refresh)
    assert "not in the gallery" in text(chromium, ".refusal")
    await open_page(chromium, base)
    assert made.remix.id not in " ".join(hrefs(chromium, "a"))
    chromium.set_window_size(*browser.PHONE)
    try:
        for path in ("", f"piece/{made.image.id}", f"challenge/{made.challenge.id}"):
            await open_page(chromium, base + path)
            wide = chromium.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert wide <= 0, path
    finally:
        chromium.set_window_size(*browser.DESKTOP)
