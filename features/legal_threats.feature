Feature: Replies to legal threats need two lawyers
  A reply labelled legal_threat needs the approval of two different people who hold the legal
  role. Someone who holds legal and writes the reply counts as one of them; nobody counts twice.

  Background:
    Given a positive question on twitter from an author with 300 followers, received at 2026-11-27 10:00 Europe/Vienna
    And the reply is labelled legal_threat

  Scenario: An agent's reply needs two approvals from legal
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply needs 2 approvals from legal
    And the deciding rule is "legal-threats-need-two-lawyers"
    When erin approves
    Then the reply needs 1 more approval from legal
    When heidi approves
    Then the reply is allowed
    And the deciding rules are "agents-reply-to-positive-and-neutral" and "legal-threats-need-two-lawyers"

  Scenario: An agent who holds legal needs one more approval from legal
    When heidi replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply needs 1 more approval from legal
    When erin approves
    Then the reply is allowed

  Scenario: The same lawyer approving twice counts once
    Given erin has approved
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply needs 1 more approval from legal
    When erin approves
    Then the reply needs 1 more approval from legal
    And the approval by erin is ignored
    And the reason says "each approval must come from a different person"

  Scenario: A legal threat that also mentions a price still needs two, not three
    Given the reply is labelled legal_threat and mentions_price
    And erin and heidi have approved
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed
    And the deciding rules are "agents-reply-to-positive-and-neutral", "price-and-legal-claims-need-legal" and "legal-threats-need-two-lawyers"
