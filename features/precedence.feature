Feature: When rules disagree
  Every rule that matches is considered. A deny beats an escalation, an escalation beats an
  approval, an approval beats an allow; and when no rule allows, the answer is deny.

  Scenario: Deny beats escalate
    Given a negative complaint on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And the reply says "Refund guaranteed!"
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the deciding rule is "no-promises-of-outcomes"
    And the deciding rules do not include "negative-post-goes-to-senior-agent"

  Scenario: Escalate beats approval
    Given a negative complaint on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And the reply is labelled mentions_price
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply escalates to senior_agent
    And the deciding rule is "negative-post-goes-to-senior-agent"

  Scenario: Approval beats allow
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And the reply is labelled mentions_price
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply needs approval from legal

  Scenario: Deny beats approval
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And the reply is labelled mentions_price
    And the reply says "Guaranteed lowest price"
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied

  Scenario: Deny beats allow
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And crisis mode is on
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied

  Scenario: Crisis mode denies before a crisis post is handed on
    Given crisis mode is on
    And a neutral crisis post on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When carol replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the deciding rule is "crisis-mode-only-comms-lead"

  Scenario: No rule that allows means deny
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When grace replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And no rule permits it

  Scenario: An approval requirement alone does not allow
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And the reply is labelled legal_claim
    When erin replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And no rule permits it

  Scenario: Anything but allowed
    Given a negative question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When bob replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is not allowed
