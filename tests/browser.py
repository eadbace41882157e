"""Open a Snakemake HTML report in headless Chromium (Debian's package, driven by Playwright)
and display every figure as a reader would: category, then the eye button of each file."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

NEW_IMAGE_LOADED = """(previous) => Array.from(document.images).some(
    i => i.src.startsWith('data:image/png') && i.src !== previous && i.complete && i.naturalWidth > 0)"""
SHOWN_IMAGE = """() => {
    const shown = Array.from(document.images).filter(i => i.src.startsWith('data:image/png'));
    const last = shown[shown.length - 1];
    return [last.src, last.naturalWidth, last.naturalHeight];
}"""


def displayed_figures(report: Path, categories: list[str], screenshot: Path | None = None) -> dict[str, tuple]:
    """File name -> (width, height) of each PNG figure as the browser decoded it."""
    from playwright.sync_api import sync_playwright

    figures = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(report.resolve().as_uri())
        previous = ""
        for category in categories:
            page.get_by_text(category, exact=True).click()
            # a category with subcategories (the Pareto fronts: one per block step) lists them
            subcategories = (
                [[]]
                if page.locator("tr", has_text=".png").count()
                else [[name] for name in page.locator("li > a > span").all_inner_texts()]
            )
            for path in subcategories:
                for name in path:
                    page.locator("li > a > span", has_text=name).first.click()
                rows = page.locator("tr", has_text=".png")
                for i in range(rows.count()):
                    name = rows.nth(i).locator("td").first.inner_text().strip()
                    rows.nth(i).locator("a[iconname=eye]").click()
                    page.wait_for_function(NEW_IMAGE_LOADED, arg=previous, timeout=15000)
                    previous, width, height = page.evaluate(SHOWN_IMAGE)
                    figures[Path(name).name] = (width, height)
                if path:
                    page.get_by_text(category, exact=True).first.click()
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
            page.get_by_text("Results", exact=True).first.click()
        browser.close()
    return figures
