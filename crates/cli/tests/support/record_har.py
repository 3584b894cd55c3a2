"""Records a HAR of a real browser session against the stampede demo target.

Usage: record_har.py BASE_URL OUT.har

Drives Debian's headless Chromium (/usr/bin/chromium, or $STAMPEDE_CHROMIUM) with Playwright;
Playwright's own browser downloads are never used. The session opens the health page, then
from the page's own origin logs in, reads /api/v1/me with the bearer token it got, and lists
five tools, the way a single-page app would, with a session cookie set. Prints the token on stdout (the test needs it to
run the imported plan, whose copy of it is masked).
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

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

SESSION_COOKIE = "s3ss10n-c00kie-value"

JOURNEY = """async () => {
  const login = await fetch('/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'browser-user', password: 'demo' }),
  });
  const { token } = await login.json();
  const me = await fetch('/api/v1/me', { headers: { authorization: 'Bearer ' + token } });
  const tools = await fetch('/api/v1/tools?limit=5');
  return { token, statuses: [login.status, me.status, tools.status] };
}"""


def main() -> int:
    base, out = sys.argv[1], sys.argv[2]
    executable = os.environ.get("STAMPEDE_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000)
        context = browser.new_context(record_har_path=out, record_har_content="embed")
        # A session cookie the site set earlier: the browser sends it on every request, and
        # the importer must mask it.
        context.add_cookies([{"name": "session", "value": SESSION_COOKIE, "url": base}])
        page = context.new_page()
        page.set_default_timeout(30_000)
        response = page.goto(base + "/health")
        if response is None or response.status != 200:
            print("health page did not load", file=sys.stderr)
            return 1
        # A pause a person would make, so the recording has think time to replay.
        page.wait_for_timeout(300)
        result = page.evaluate(JOURNEY)
        if result["statuses"] != [200, 200, 200]:
            print(f"unexpected statuses: {result['statuses']}", file=sys.stderr)
            return 1
        context.close()  # writes the HAR
        browser.close()
    print(json.dumps({"token": result["token"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
