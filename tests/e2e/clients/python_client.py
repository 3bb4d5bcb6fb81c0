"""Debian python3-google-auth against the metadata proxy: ADC discovery, then a token refresh.

Run with /usr/bin/python3, an empty HOME, and GCE_METADATA_HOST/_IP/_ROOT set to host:port.
Prints one `key: value` line per check; exits non-zero on failure.
"""
import sys

import google.auth
import google.auth.transport.requests as gtr
from google.auth import compute_engine
from google.auth.compute_engine import _metadata


def main():
    request = gtr.Request()
    print("ping:", _metadata.ping(request))
    credentials, project = google.auth.default()
    print("default type:", type(credentials).__name__)
    print("default project:", project)
    credentials.refresh(request)
    print("token:", credentials.token)
    print("email:", credentials.service_account_email)
    print("expiry set:", credentials.expiry is not None)
    again = compute_engine.Credentials()
    again.refresh(request)
    print("same token:", again.token == credentials.token)
    identity = _metadata.get(
        request,
        "instance/service-accounts/default/identity?audience=https://svc.example&format=full",
    )
    print("identity segments:", len(identity.split(".")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
