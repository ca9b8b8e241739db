"""Every URL of the app on a freshly started server: its first visit (Streamlit's folder mode) and a later one reach the router.

A `pages/` folder beside app.py makes Streamlit serve a server's first visits from the folder (file-name
menu, no page config) until some script calls st.navigation; dashboard.router.ensure_routed covers them.
One fresh server per URL, so that every URL is once the very first visit of a server.
"""

import re

import appserver
import pytest
from browser_helpers import open_page, settle, shot

from dashboard.router import PAGES

pytestmark = pytest.mark.browser
MENU = [title for _, title, _, _ in PAGES]  # the router's menu, in its order
HEADINGS = {"": "musicgen", **appserver.HEADINGS}  # URL path -> the page's heading; the root serves the home page


def test_every_declared_url_is_visited_here():
    assert set(HEADINGS) == {""} | {url_path for *_, url_path in PAGES}


def menu_of(page) -> tuple[list[str], list[str]]:
    """Return (titles of the sidebar menu, titles of its links marked as the current page)."""
    links = page.locator('[data-testid="stSidebarNavLink"]')
    titles = [links.nth(i).inner_text().split("\n")[-1].strip() for i in range(links.count())]
    current = [t for i, t in enumerate(titles) if links.nth(i).get_attribute("aria-current") == "page"]
    return titles, current


@pytest.mark.parametrize("path", list(HEADINGS), ids=lambda p: f"/{p}")
def test_a_fresh_server_serves_every_url_through_the_router(fresh_server, page, path):
    url = fresh_server
    heading = HEADINGS[path]
    for visit in ("first", "again"):  # the first visit of the server, then one after folder mode is over
        open_page(page, url, path, heading)
        page.locator('[data-testid="stSidebarNavLink"]').first.wait_for()
        titles, current = menu_of(page)
        assert titles == MENU, f"{visit} visit of /{path}: menu {titles}, not the router's"
        assert page.title() == "musicgen", f"{visit} visit of /{path}: tab title {page.title()!r}, app.py's page config missing"
        assert page.url.rstrip("/") == f"{url}/{path}".rstrip("/"), f"{visit} visit of /{path} ended on {page.url}"
        assert page.get_by_text(re.compile("page not found", re.IGNORECASE)).count() == 0, f"{visit} visit of /{path}"
        # The menu marks the page; /home is the home page's hidden twin (the default page lives at the root only).
        assert current == ([] if path == "home" else [next(t for s, t, _, u in PAGES if u == (path or "home"))])
    shot(page, f"route-{path or 'root'}")


def test_the_first_widget_change_on_a_fresh_servers_first_page_is_kept(fresh_server, page):
    """The first visit runs in folder mode; the change made on it must survive the switch to the router."""
    open_page(page, fresh_server, "train", "Train")
    page.wait_for_timeout(1000)  # the router's rerun of that first run may follow the first settle
    settle(page)
    page.locator(".st-key-train_loss").click()
    page.get_by_role("option", name="focal", exact=True).click()
    settle(page)
    page.wait_for_timeout(1000)
    assert page.get_by_text("defaults for adamw + focal").count() == 1, "the loss picked on the first visit was lost"
