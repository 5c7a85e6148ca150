"""Publication to inbox: a new A&E month, from the poll's start to the last email accepted.

A local stand-in for NHS England's statistics pages (a threaded HTTP server on 127.0.0.1,
serving the saved A&E pages with their links pointing back at it, and the real CSV files)
first publishes April to July 2025; a poll ingests them quietly (the source's first complete
ingest, as `monitor init` would have seeded it) and the rules are evaluated. Then 500
subscriptions are added: every region, every ICB and every trust, with mixed minimum
severities, and the rest as a second trust-board address per acute trust. A local SMTP server
(aiosmtpd, in its own process) accepts the mail.

Measured, in a fresh process for each run, set up as a running service stands when a
publication arrives (its email templates compiled at start-up, as `monitor run` does):

- pipeline: the stand-in publishes August 2025 (the real file); ``jobs.poll_and_notify``, the
  service's own chain, polls (discover, fetch, parse, write), evaluates the figures the new
  publication brought (the lifecycle routes alert events to the outbox in the same
  transaction) and sends; it returns once the SMTP server has accepted the last message;
- baseline: fetching the August file from the same stand-in and parsing it with the A&E
  parser, alone.

A third, profiled run of the pipeline (cProfile, so slower than the timed one) says where the
time goes: discover, fetch, parse, write, evaluate, route, render and send.

Target (the issue): the pipeline takes at most 3x the fetch and parse alone.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from bench.bench_send import with_smtp_server
from bench.harness import ROOT, Measured, Result, in_subprocess, work_dir

RUNS = 3
SUBSCRIPTIONS = 500
PAGES = ROOT / "tests" / "data" / "pages"
AE = ROOT / "data" / "real" / "ae"
REAL_HOST = "https://www.england.nhs.uk"
INDEX = "/statistics/statistical-work-areas/ae-waiting-times-and-activity/"
FIRST = ("April-2025", "May-2025", "June-2025", "July-2025")
NEW = "August-2025-CSV-g5tyh-v2.0.csv"

# The stand-in publisher: pages and files from a folder, links rewritten to point at itself.
PUBLISHER = """
import functools, http.server, threading
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
def serve(folder):
    handler = functools.partial(Quiet, directory=folder)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
"""

SETUP = """
import os, shutil, sys
sys.path.insert(0, ROOT)
exec(PUBLISHER_CODE)
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(RUN_DB + suffix):
        os.unlink(RUN_DB + suffix)
shutil.copyfile(TEMPLATE, RUN_DB)
shutil.rmtree(SITE, ignore_errors=True)
shutil.copytree(SITE_BEFORE, SITE)
httpd = serve(SITE)
base = "http://127.0.0.1:%d" % httpd.server_address[1]
open(CONFIG, "w").write(CONFIG_TEXT.replace("{base}", base))
from monitor.context import Context
from monitor.service import jobs
ctx = Context.load(__import__("pathlib").Path(CONFIG))
# A running service compiled its email templates when it started (monitor/service/runner.py).
from monitor.notify import render
assert render.precompile(ctx.settings) == []
# The publisher releases August 2025: the year page now links it, and the file is there.
shutil.copytree(SITE_AFTER, SITE, dirs_exist_ok=True)
"""
PIPELINE = """
report = jobs.poll_and_notify(ctx, ["ae"])
assert report.send is not None, report.as_json()
OUTPUT = {"chain": report.as_json()}
"""
PROFILED = """
import cProfile, pstats
profile = cProfile.Profile()
profile.enable()
report = jobs.poll_and_notify(ctx, ["ae"])
profile.disable()
assert report.send is not None, report.as_json()
stats = pstats.Stats(profile).stats
def spent(module, name):
    return max((v[3] for (f, _l, fn), v in stats.items() if f.endswith(module) and fn == name),
               default=0.0)
OUTPUT = {"profile": {
    "discover": spent("sources/poll.py", "_discover") or spent("sources/discover.py",
                                                               "article_links"),
    "fetch": spent("sources/fetch.py", "get"),
    "parse": spent("sources/ae.py", "parse"),
    "ingest (parse + write)": spent("sources/ingest.py", "ingest_file"),
    "evaluate (incl. route)": spent("rules/run.py", "evaluate_db"),
    "route": spent("notify/routing.py", "route"),
    "render": spent("notify/compose.py", "message"),
    "send (SMTP)": spent("smtplib.py", "sendmail"),
    "deliver (render + send + record)": spent("notify/outbox.py", "deliver"),
}}
"""
BASELINE = """
import requests
from monitor.sources import registry
url = base + "/statistics/wp-content/uploads/sites/2/2025/10/" + NEW
body = requests.get(url, timeout=60).content
parsed = registry.statistics("ae").parse(body, filename=NEW)
OUTPUT = {"bytes": len(body), "figures": len(parsed.figures)}
"""


def _site(folder: Path, months: tuple[str, ...], base_marker: str = "{base}") -> None:
    """The saved pages with only ``months``' CSV links kept, pointing at the stand-in."""
    shutil.rmtree(folder, ignore_errors=True)
    for page, path in (
        ("ae-waiting-times-and-activity.html", INDEX),
        (
            "ae-attendances-and-emergency-admissions-2025-26.html",
            INDEX + "ae-attendances-and-emergency-admissions-2025-26/",
        ),
        (
            "ae-attendances-and-emergency-admissions-2024-25.html",
            INDEX + "ae-attendances-and-emergency-admissions-2024-25/",
        ),
    ):
        html = (PAGES / page).read_text()

        def keep(m: re.Match[str]) -> str:
            href = m.group(1)
            if not href.lower().endswith(".csv"):
                return m.group(0)
            name = href.rsplit("/", 1)[-1]
            wanted = any(name.startswith((f"Monthly-AE-{x}", x)) for x in months)
            if wanted and (AE / name).is_file():
                return m.group(0)
            return "<span>"

        html = re.sub(r'<a href="([^"]*)"', keep, html)
        html = html.replace(REAL_HOST, "")  # root-relative: the stand-in serves them
        out = folder / path.strip("/") / "index.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html)
    for f in AE.glob("*.csv"):
        if any(f.name.startswith((f"Monthly-AE-{x}", x)) for x in months):
            target = folder / "statistics/wp-content/uploads/sites/2" / _upload(f.name) / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)


def _upload(name: str) -> str:
    """The uploads folder the saved pages link ``name`` under (year/month of release)."""
    for page in PAGES.glob("ae-*.html"):
        m = re.search(r"uploads/sites/2/(\d{4}/\d{2})/" + re.escape(name), page.read_text())
        if m:
            return m.group(1)
    raise ValueError(f"{name}: not linked from any saved A&E page")


def _config_text(work: Path, run_db: Path, smtp_port: int) -> str:
    return (
        f"[database]\nurl = 'sqlite:///{run_db}'\n"
        f"[paths]\nvar = '{work / 'var'}'\ntemplates = '{ROOT / 'templates'}'\n"
        f"rules = '{ROOT / 'rules'}'\n"
        "[web]\nbase_url = 'http://127.0.0.1:8000'\n"
        "[sources.ae]\nindex_url = '{base}" + INDEX + "'\n"
        "[http]\nretries = 1\n"
        f"[mail]\ntransport = 'smtp'\nsmtp_host = '127.0.0.1'\nsmtp_port = {smtp_port}\n"
        "from = 'NHS trust monitor <monitor@alerts.example.nhs.uk>'\n"
    )


def _template(work: Path) -> Path:
    """April to July 2025 polled and evaluated, and 500 subscriptions (built once per
    database schema: a new migration builds it again)."""
    from monitor.db import head_revision

    path = work / f"pipeline_template_{head_revision()}.db"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT))
    exec(PUBLISHER, globals())
    from sqlmodel import col, select

    from monitor import db, orgs
    from monitor.context import Context
    from monitor.models import Organisation
    from monitor.notify import subscriptions
    from monitor.service import jobs

    tmp = work / "pipeline_build.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    site = work / "pipeline_site_build"
    _site(site, FIRST)
    httpd = globals()["serve"](str(site))
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    config = work / "pipeline_build.toml"
    config.write_text(_config_text(work, tmp, 25).replace("{base}", base))
    ctx = Context.load(config)
    db.upgrade(ctx.engine)
    with db.session_scope(ctx.engine, write=True) as s:
        orgs.load_reference(s)
    first = jobs.poll_and_notify(ctx, ["ae"])
    assert first.evaluate is not None, first.as_json()
    severities = ["critical", "high", "medium", "low", "info"]
    with db.session_scope(ctx.engine, write=True) as s:
        regions = list(s.exec(select(Organisation.code).where(Organisation.kind == "region")))
        icbs = list(s.exec(select(Organisation.code).where(Organisation.kind == "icb")))
        trusts = list(
            s.exec(
                select(Organisation.code, Organisation.trust_type)
                .where(Organisation.kind == "trust", col(Organisation.closed).is_(None))
                .order_by(col(Organisation.code))
            )
        )
        wanted = [("region", c, f"oversight.{c.lower()}@nhs.net") for c in regions]
        wanted += [("icb", c, f"quality.{c.lower()}@nhs.net") for c in icbs]
        wanted += [("org", c, f"board@{c.lower()}.nhs.uk") for c, _t in trusts]
        acute = [c for c, t in trusts if t == "acute"]
        i = 0
        while len(wanted) < SUBSCRIPTIONS:
            c = acute[i % len(acute)]
            wanted.append(("org", c, f"chair{i}@{c.lower()}.nhs.uk"))
            i += 1
        for n, (scope, code, email) in enumerate(wanted[:SUBSCRIPTIONS]):
            req = subscriptions.Request(email, scope, code, min_severity=severities[n % 5])
            subscriptions.add(s, ctx.settings, req)
    httpd.shutdown()
    with ctx.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    ctx.close()
    tmp.rename(path)
    return path


def _measure(work: Path, smtp_port: int) -> dict[str, Measured]:
    template = _template(work)
    run_db = work / "pipeline_run.db"
    config = work / "pipeline_run.toml"
    after = work / "pipeline_site_after"
    _site(work / "pipeline_site_before", FIRST)
    _site(after, (*FIRST, "August-2025"))
    consts = (
        f"ROOT = {str(ROOT)!r}\nTEMPLATE = {str(template)!r}\nRUN_DB = {str(run_db)!r}\n"
        f"CONFIG = {str(config)!r}\nSITE = {str(work / 'pipeline_site')!r}\n"
        f"SITE_BEFORE = {str(work / 'pipeline_site_before')!r}\n"
        f"SITE_AFTER = {str(after)!r}\nNEW = {NEW!r}\n"
        f"PUBLISHER_CODE = {PUBLISHER!r}\n"
        f"CONFIG_TEXT = {_config_text(work, run_db, smtp_port)!r}\n"
    )
    runs: dict[str, list[Measured]] = {"pipeline": [], "baseline": []}
    for _ in range(RUNS):
        runs["pipeline"].append(in_subprocess(PIPELINE, setup=consts + SETUP))
        runs["baseline"].append(in_subprocess(BASELINE, setup=consts + SETUP))
    best = {name: min(ms, key=lambda m: m.seconds) for name, ms in runs.items()}
    best["profiled"] = in_subprocess(PROFILED, setup=consts + SETUP)
    return best


def run() -> list[Result]:
    work = work_dir() / "pipeline"
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "var", ignore_errors=True)
    m, received = with_smtp_server(lambda port: _measure(work, port))
    chain = m["pipeline"].output["chain"]
    assert isinstance(chain, dict)
    sent = int(chain["send"]["counts"].get("sent") or 0)
    assert sent > 0, f"the pipeline sent nothing: {chain}"
    assert received == sent * (RUNS + 1), f"the server received {received}, {sent} per run"
    pipe, base = m["pipeline"], m["baseline"]
    print(
        f"  August 2025 to {sent} messages: pipeline {pipe.seconds:.2f}s "
        f"({pipe.peak_rss_mb:.0f} MB); fetch and parse alone {base.seconds:.3f}s",
        flush=True,
    )
    profile = m["profiled"].output["profile"]
    assert isinstance(profile, dict)
    print("  where the time goes (a profiled run; cumulative seconds, nested):", flush=True)
    for step, seconds in profile.items():
        print(f"    {step:<34} {float(seconds):8.3f}", flush=True)
    return [
        Result(
            "pipeline",
            f"publication to inbox ({sent} msgs, s)",
            pipe.seconds,
            "s",
            "fetch + parse alone",
            base.seconds,
            "ratio <= 3",
            pipe.seconds <= 3 * base.seconds,
        )
    ]
