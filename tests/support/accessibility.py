"""axe-core (bundled by axe-playwright-python) on a page as it stands: WCAG 2.1 A and AA rules, serious and
critical findings, each as one readable line."""

from __future__ import annotations

SERIOUS = ("serious", "critical")
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def axe_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page, options=WCAG_21_AA).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in found
        if v["impact"] in SERIOUS
    ]
