"""POST a JSON document with the standard library; errors sorted into what a retry may fix and what not.

No SDK is needed for an incoming webhook, and urllib keeps ``fleet --help``
and the engine free of one. Every call has a timeout: a receiver that
accepts the connection and never answers costs at most that.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from fleet.errors import ProviderError, TransientError

USER_AGENT = "fleet-notify/1"


class UrllibWebhook:
    """The ``Webhook`` port over urllib."""

    def post(self, url: str, body: Mapping[str, Any], timeout_s: float) -> int:
        data = json.dumps(body, sort_keys=True).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        where = url.split("?", maxsplit=1)[0]
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:
                answer.read(4096)
                return int(answer.status)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code >= 500 or err.code == 429:
                raise TransientError(f"{where} answered HTTP {err.code}", retry_after=0.0) from err
            raise ProviderError(f"{where} answered HTTP {err.code}") from err
        except TimeoutError as err:
            raise TransientError(f"{where} did not answer within {timeout_s:g}s", retry_after=0.0) from err
        except urllib.error.URLError as err:
            raise TransientError(f"{where}: {err.reason}", retry_after=0.0) from err
        except OSError as err:
            raise TransientError(f"{where}: {err}", retry_after=0.0) from err
