"""The engines replygate is measured against: a hand-written floor, Cedar and Casbin.

Each peer offers `decide(request_dict) -> dict` with the fields `decision`, `approvers`,
`escalate_to`, `respond_by` and `sla_breached`; bench/peers/README.md says what each can express.
"""
