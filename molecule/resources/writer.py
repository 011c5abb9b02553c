"""Bounded etcd client for the day-2 tests: counts what etcd acknowledged.

  writer.py run    --out F [--duration S] [--stop-file P] ...  write sequential keys
  writer.py verify --out F ...   every acknowledged key must read back with its value
  writer.py dump   --out F ...   all keys under the prefix, as JSON
  writer.py churn  --count N --size B [--until-nospace] ...   write then delete N values
  writer.py fill   --count N --size B ...   write N values of B random bytes that stay (backup sizes)

It talks to the members' client URLs through etcd's gRPC gateway (JSON over
HTTPS, the admin client certificate), trying the endpoints in turn like a
client with several endpoints. A write counts as acknowledged only when etcd
answered it with a revision. `run` stops by itself after --duration seconds
(or when --stop-file appears), so a test can never leave it behind.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Client:
    def __init__(self, args):
        self.endpoints = [e.rstrip("/") for e in args.endpoints.split(",") if e]
        self.timeout = args.timeout
        self.ctx = None
        if any(e.startswith("https://") for e in self.endpoints):
            self.ctx = ssl.create_default_context(cafile=args.cacert)
            self.ctx.load_cert_chain(args.cert, args.key)
        self.current = 0

    def call(self, path: str, body: dict) -> dict:
        """POST to the current endpoint, moving on to the next one on failure."""
        last = None
        for i in range(len(self.endpoints)):
            ep = self.endpoints[(self.current + i) % len(self.endpoints)]
            req = urllib.request.Request(ep + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout, context=self.ctx) as resp:
                    data = json.loads(resp.read() or b"{}")
                if "error" in data or "code" in data and data.get("code"):
                    raise RuntimeError(data.get("error") or data.get("message"))
                self.current = (self.current + i) % len(self.endpoints)
                return data
            except urllib.error.HTTPError as e:
                # The gateway puts etcd's own message in the body.
                last = RuntimeError(f"{e}: {e.read()[:300].decode(errors='replace')}")
            except (OSError, urllib.error.URLError, RuntimeError, ValueError) as e:
                last = e
        raise RuntimeError(f"no endpoint answered: {last}")

    def put(self, key: str, value: str) -> int:
        data = self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})
        try:
            return int(data["header"]["revision"])
        except (KeyError, TypeError, ValueError):
            # Not an acknowledgement etcd would send: counted as a failed put.
            raise RuntimeError(f"a reply without a revision: {str(data)[:200]}") from None

    def range_prefix(self, prefix: str) -> dict[str, str]:
        data = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return {unb64(kv["key"]): unb64(kv.get("value", "")) for kv in data.get("kvs", [])}

    def delete_prefix(self, prefix: str) -> None:
        self.call("/v3/kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})


def cmd_run(args, client: Client) -> int:
    started = time.monotonic()
    acked: dict[str, str] = {}
    attempts = failures = 0
    windows: list[float] = []
    down_since = None
    seq = 0
    while time.monotonic() - started < args.duration:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        key = f"{args.prefix}{seq:08d}"
        value = f"{args.tag}-{seq}"
        attempts += 1
        t = time.monotonic()
        try:
            client.put(key, value)
        except RuntimeError:
            failures += 1
            if down_since is None:
                down_since = t
            time.sleep(args.interval)
            continue
        if down_since is not None:
            windows.append(time.monotonic() - down_since)
            down_since = None
        acked[key] = value
        seq += 1
        time.sleep(args.interval)
    if down_since is not None:
        windows.append(time.monotonic() - down_since)
    result = dict(prefix=args.prefix, acked=acked, attempts=attempts, failures=failures,
                  seconds=round(time.monotonic() - started, 1),
                  longest_unavailable=round(max(windows, default=0.0), 2),
                  unavailable_windows=len(windows), still_down_at_end=down_since is not None)
    with open(args.out, "w") as fh:
        json.dump(result, fh)
    print(json.dumps({k: v for k, v in result.items() if k != "acked"} | {"acked": len(acked)}))
    return 0


def cmd_verify(args, client: Client) -> int:
    with open(args.out) as fh:
        result = json.load(fh)
    deadline = time.monotonic() + 30
    while True:
        try:
            stored = client.range_prefix(result["prefix"])
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    lost = sorted(k for k, v in result["acked"].items() if stored.get(k) != v)
    summary = dict(acked=len(result["acked"]), lost=len(lost), failed_attempts=result["failures"],
                   longest_unavailable_s=result["longest_unavailable"], seconds=result["seconds"])
    print(json.dumps(summary))
    if not result["acked"]:
        print("the writer got no write acknowledged at all", file=sys.stderr)
        return 1
    if lost:
        print(f"LOST {len(lost)} acknowledged writes, first: {lost[:5]}", file=sys.stderr)
        return 1
    return 0


def cmd_dump(args, client: Client) -> int:
    with open(args.out, "w") as fh:
        json.dump(client.range_prefix(args.prefix), fh, sort_keys=True)
    return 0


def cmd_churn(args, client: Client) -> int:
    """Write --count values of --size bytes, then delete them. With
    --until-nospace, stop at etcd's "database space exceeded" (deletes are
    still allowed then) and fail if the quota was never reached."""
    blob = "x" * args.size
    written, nospace = 0, False
    for i in range(args.count):
        try:
            client.put(f"{args.prefix}{i:06d}", blob)
        except RuntimeError as e:
            if not (args.until_nospace and "space exceeded" in str(e)):
                raise
            nospace = True
            break
        written += 1
    client.delete_prefix(args.prefix)
    print(json.dumps({"written": written, "nospace": nospace}))
    return 1 if args.until_nospace and not nospace else 0


def cmd_fill(args, client: Client) -> int:
    """Write --count values of --size random (incompressible) characters that
    stay, so a snapshot is as large as a real one (bounded by --count)."""
    t0 = time.monotonic()
    for i in range(args.count):
        client.put(f"{args.prefix}{i:06d}", base64.b64encode(os.urandom(args.size * 3 // 4)).decode())
    print(json.dumps({"written": args.count, "bytes": args.count * args.size,
                      "seconds": round(time.monotonic() - t0, 1)}))
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=["run", "verify", "dump", "churn", "fill"])
    ap.add_argument("--endpoints", required=True, help="comma-separated client URLs")
    ap.add_argument("--cacert")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--prefix", default="/raftops-test/")
    ap.add_argument("--tag", default="v")
    ap.add_argument("--out", default="writer.json")
    ap.add_argument("--duration", type=float, default=600, help="hard upper bound in seconds")
    ap.add_argument("--stop-file")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--until-nospace", action="store_true", help="churn: stop at the NOSPACE alarm")
    args = ap.parse_args(argv)
    client = Client(args)
    return dict(run=cmd_run, verify=cmd_verify, dump=cmd_dump, churn=cmd_churn, fill=cmd_fill)[args.mode](args, client)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
