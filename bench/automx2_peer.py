#!/usr/bin/env python3
"""The peer: automx2 generating, in-process, the outputs it shares with mailconf for a roster.

automx2 is configured the documented way: an `automx2.conf` (pointed to by AUTOMX2_CONF) with a
SQLite database, seeded through its own `/initdb/` view with version-2 seed JSON describing the
same servers as mailconf's KUMail provider (POP 995 SSL, IMAP 993 SSL, SMTP 587 STARTTLS, domain
kyoto-u.ac.jp). Then, for every person of the roster, its own generator classes
(`MozillaGenerator`, `AppleGenerator`, which run the same database queries and XML building as its
HTTP views, minus Werkzeug request handling) render Thunderbird's `config-v1.1.xml` and Apple's
`.mobileconfig`, and both go into a zip (zipfile, deflate level 6, one entry per file).

Calling the generators directly, not through the Flask test client, is the *favourable* choice for
automx2: it leaves out the HTTP layer a real deployment pays for every request.

Usage: automx2_peer.py ROSTER.csv OUT.zip WORKDIR
Prints one JSON line on stdout: users, files, bytes, the in-process generation time.
"""

import csv
import json
import os
import sys
import time
import zipfile
from pathlib import Path

DOMAIN = "kyoto-u.ac.jp"

# The same servers as mailconf's embedded KUMail provider (providers/kumail.toml).
# automx2 derives the socket type from the port: 993/995/465 -> SSL, otherwise STARTTLS.
SEED = {
    "version": 2,
    "provider": "KUMail (Kyoto University staff mail)",
    "domains": [{"name": DOMAIN}],
    "servers": [
        {"name": "pop.gmail.com", "port": 995, "type": "pop", "prio": 10},
        {"name": "imap.gmail.com", "port": 993, "type": "imap", "prio": 20},
        {"name": "smtp.gmail.com", "port": 587, "type": "smtp", "prio": 10},
    ],
}


def configure(workdir: Path) -> None:
    """Writes automx2.conf and a fresh SQLite DB path; must run before automx2 is imported."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "automx2.db"
    if db.exists():
        db.unlink()
    conf = workdir / "automx2.conf"
    conf.write_text(
        "[automx2]\n"
        "loglevel = WARNING\n"
        "db_echo = no\n"
        f"db_uri = sqlite:///{db.resolve()}\n"
    )
    os.environ["AUTOMX2_CONF"] = str(conf)


def read_roster(path: Path) -> list[tuple[str, str]]:
    """(address, name) pairs; the header is the one bench/gen_roster.py writes."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        name_col, mail_col = header.index("氏名"), header.index("メールアドレス")
        # mailconf trims and lower-cases addresses; give automx2 the same address.
        return [(r[mail_col].strip().lower(), r[name_col].strip("\u3000 ")) for r in rows]


def main() -> None:
    roster, out, workdir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    configure(workdir)
    people = read_roster(roster)

    import logging

    logging.getLogger("automx2").setLevel(logging.ERROR)  # its import logs a version banner
    from automx2.generators.apple import AppleGenerator
    from automx2.generators.mozilla import MozillaGenerator
    from automx2.server import app

    # Seed through automx2's own endpoint, as its documentation describes.
    client = app.test_client()
    r = client.post("/initdb/", json=SEED)
    assert r.status_code == 200, r.data

    started = time.perf_counter()
    files = 0
    with app.app_context(), zipfile.ZipFile(
        out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
    ) as z:
        mozilla, apple = MozillaGenerator(), AppleGenerator()
        for address, name in people:
            local, domain = address.split("@", 1)
            tb = mozilla.client_config(local, domain, name, "")
            mc = apple.client_config(local, domain, name, "")
            z.writestr(f"users/{address}/config-v1.1.xml", tb)
            z.writestr(f"users/{address}/{address}.mobileconfig", mc)
            files += 2
    generation = time.perf_counter() - started

    # Sanity: the outputs carry the servers we configured.
    assert b"pop.gmail.com" in tb and b"smtp.gmail.com" in tb, tb
    assert b"smtp.gmail.com" in mc, mc
    print(json.dumps({
        "users": len(people),
        "files": files,
        "bytes": out.stat().st_size,
        "generation_s": generation,
    }))


if __name__ == "__main__":
    main()
