Feature: Approvals (four eyes)
  A reply that needs approval is allowed once someone who holds the required role, and who is
  not the author of the reply, has approved it. An approval by the author, or by someone
  without the role, is ignored, and the decision says so.

  Background:
    Given a negative complaint on twitter from an author with 25,000 followers, received at 2026-11-27 21:40 Europe/Vienna

  Scenario: The comms lead's approval completes the flow
    When carol replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply needs approval from comms_lead
    When dave approves
    Then the reply is allowed
    And the deciding rules are "senior-agents-reply-to-negative" and "viral-negative-needs-comms-lead"

  Scenario: An approval given before the reply counts the same
    Given dave has approved
    When carol replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply is allowed

  Scenario: Nobody approves their own reply
    Given carol has approved
    When carol replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply needs approval from comms_lead
    And the approval by carol is ignored
    And the reason says "nobody approves their own publication"

  Scenario: An approval by someone without the role is ignored
    Given bob has approved
    When carol replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply needs approval from comms_lead
    And the approval by bob is ignored
    And the reason says "it is needed from comms_lead, which bob does not hold"

  Scenario: Two approvals are needed at once, listed in order
    Given the author has 10,000 followers
    And the reply is labelled legal_claim
    When carol replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply needs approval from comms_lead and legal
    When erin approves
    Then the reply needs approval from comms_lead
    When dave approves
    Then the reply is allowed

  Scenario: Both approvals at once
    Given the reply is labelled mentions_price
    And dave and erin have approved
    When carol replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply is allowed

  Scenario: Someone who holds legal among other roles may approve for legal
    Given the reply is labelled mentions_price
    And dave and heidi have approved
    When carol replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply is allowed

  Scenario: A directory group that holds no legal role cannot approve for legal
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    And the reply is labelled mentions_price
    And a member of care-team named zoe has approved
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply needs approval from legal
    And the approval by zoe is ignored

  Scenario: An approval cannot lift an escalation
    Given dave has approved
    When alice replies at 2026-11-27 21:50 Europe/Vienna
    Then the reply escalates to senior_agent
