"""The Kubernetes versions EKS offers, from its ``DescribeClusterVersions`` API.

EKS names versions by minor (``1.31``): the patch level is AWS's business. Versions
past their support (``UNSUPPORTED``) are not offered; versions in extended support
are, since a cluster on them can still be replaced by one on the next minor.
"""

from __future__ import annotations

from typing import Any

from fleet.domain.model import Version
from fleet.errors import AccessDenied, ProviderError, TransientError


class EksVersions:
    """``VersionSource`` for the ``eks`` driver."""

    def __init__(self, region: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = client
        self._found: list[Version] | None = None

    @property
    def where(self) -> str:
        return f"EKS DescribeClusterVersions ({self.region})"

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=15)
            self._client = boto3.session.Session().client(
                "eks", region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        return self._client

    def versions(self) -> list[Version]:
        """The offered versions, asked once per instance (a rollout asks for every environment)."""
        if self._found is None:
            self._found = self._ask()
        return list(self._found)

    def _ask(self) -> list[Version]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: list[Version] = []
        token: str | None = None
        try:
            for _ in range(50):  # pages; EKS returns a handful of versions
                args: dict[str, Any] = {"clusterType": "eks"}
                if token:
                    args["nextToken"] = token
                page = self.client().describe_cluster_versions(**args)
                for item in page.get("clusterVersions", []):
                    status = str(item.get("versionStatus") or item.get("status") or "").upper()
                    if status == "UNSUPPORTED":
                        continue
                    try:
                        found.append(Version.parse(item["clusterVersion"]))
                    except (KeyError, ValueError):
                        continue
                token = page.get("nextToken")
                if not token:
                    break
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("AccessDeniedException", "UnauthorizedOperation", "AccessDenied"):
                raise AccessDenied(f"{self.where}: {code}") from err
            if code in ("ThrottlingException", "ServiceUnavailableException", "ServerException"):
                raise TransientError(f"{self.where}: {code}") from err
            raise ProviderError(f"{self.where}: {err}") from err
        except BotoCoreError as err:
            raise ProviderError(f"{self.where}: {err}") from err
        return sorted(set(found), key=lambda v: (v.major, v.minor, v.patch or 0))
