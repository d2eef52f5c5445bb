"""The decision log: every answered check, durable, searchable and tamper-evident.

    log = open_decision_log("sqlite:///replygate-decisions.db", redact={"content.text": "hash"})
    log.submit(DecisionRecord.new(request, decision, client, commit, ref, latency_ms))
    await log.log(Checked(body, decision_json, client, commit, ref, latency_ms))  # the API's way
    log.query(actor="carol", outcome="deny")      # last committed first, keyset-paginated
    log.close()                                   # drains the queue
    verify_log(url)                               # walks every hash chain
    iter_requests(url)                            # the logged requests, for replay and diff

Module by module: records (the record, the errors) · redaction · chain (canonical JSON and the
hash chain) · keys (the log key: HMAC chains, signed anchors) · files (bounded reads of key and
anchors files) · anchors · writer (bounded queue, batching thread) · backend (what SQLite and PostgreSQL
share) · sqlite · postgres · log (the facade a server holds) · verify · replay.
"""

from replygate.decision_log.log import DecisionLog, open_backend, open_decision_log
from replygate.decision_log.records import (
    DecisionLogError,
    DecisionRecord,
    LogClosed,
    LogFailed,
    LogFull,
    format_time,
)
from replygate.decision_log.replay import iter_requests
from replygate.decision_log.urls import shown_url
from replygate.decision_log.verify import Head, VerifyResult, verify_log

__all__ = [
    "DecisionLog",
    "DecisionLogError",
    "DecisionRecord",
    "Head",
    "LogClosed",
    "LogFailed",
    "LogFull",
    "VerifyResult",
    "format_time",
    "iter_requests",
    "open_backend",
    "open_decision_log",
    "shown_url",
    "verify_log",
]
