Feature: Customer care answers posts
  Agents answer positive and neutral posts on every channel, at any time. Negative posts go to
  a senior agent; a negative post by an author with 10,000 or more followers also needs the
  communications lead's approval. The comms lead answers anything.

  Scenario Outline: Agents answer positive and neutral posts on every channel, at any time
    Given a <sentiment> question on <channel> from an author with 120 followers, received at <time>
    When alice replies at <time>
    Then the reply is allowed
    And the deciding rule is "agents-reply-to-positive-and-neutral"

    Examples:
      | sentiment | channel   | time                                   |
      | positive  | twitter   | Friday 2026-11-27 10:00 Europe/Vienna  |
      | neutral   | facebook  | Friday 2026-11-27 23:30 Europe/Vienna  |
      | positive  | instagram | Sunday 2026-11-29 03:00 Europe/Vienna  |
      | neutral   | linkedin  | Tuesday 2026-12-08 12:00 Europe/Vienna |

  Scenario: A member of the care-team group counts as an agent
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When a member of care-team named zoe replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed

  Scenario Outline: Who answers a negative post, by the author's reach
    Given a negative complaint on twitter from an author with <reach> followers, received at 2026-11-27 10:00 Europe/Vienna
    When <actor> replies at 2026-11-27 10:10 Europe/Vienna
    Then the reply <outcome>
    And the deciding rule is "<rule>"

    Examples:
      | actor | reach  | outcome                        | rule                               |
      | alice | 50     | escalates to senior_agent      | negative-post-goes-to-senior-agent |
      | bob   | 25000  | escalates to senior_agent      | negative-post-goes-to-senior-agent |
      | heidi | 50     | escalates to senior_agent      | negative-post-goes-to-senior-agent |
      | carol | 0      | is allowed                     | senior-agents-reply-to-negative    |
      | carol | 9,999  | is allowed                     | senior-agents-reply-to-negative    |
      | carol | 10,000 | needs approval from comms_lead | viral-negative-needs-comms-lead    |
      | carol | 250000 | needs approval from comms_lead | viral-negative-needs-comms-lead    |
      | dave  | 9,999  | is allowed                     | senior-agents-reply-to-negative    |
      | dave  | 10,000 | is allowed                     | viral-negative-needs-comms-lead    |

  Scenario: The reach boundary lies between 9,999 and 10,000 followers
    Given a negative question on facebook, received at 2026-11-27 10:00 Europe/Vienna
    And the author has 9,999 followers
    When carol replies at 2026-11-27 10:30 Europe/Vienna
    Then the reply is allowed
    Given the author has 10,000 followers
    Then the reply needs approval from comms_lead

  Scenario: A senior agent answers positive posts too, as an agent
    Given a positive praise post on instagram, received at 2026-11-27 10:00 Europe/Vienna
    When carol replies at 2026-11-27 10:01 Europe/Vienna
    Then the reply is allowed
    And the deciding rule is "agents-reply-to-positive-and-neutral"
    And the deciding rules do not include "senior-agents-reply-to-negative"

  Scenario: The comms lead answers a viral negative post himself
    Given a negative complaint on twitter from an author with 250000 followers, received at 2026-11-27 21:40 Europe/Vienna
    When dave replies at 2026-11-27 21:45 Europe/Vienna
    Then the reply is allowed
    And the deciding rules are "senior-agents-reply-to-negative" and "viral-negative-needs-comms-lead"

  Scenario: A post without a category the policy knows has no deadline, but agents may answer it
    Given a neutral post on linkedin, received at 2026-11-27 10:00 Europe/Vienna
    When bob replies 3 days after it was received
    Then the reply is allowed
    And there is no response deadline

  Scenario: Product managers answer positive and neutral feature requests on every channel
    Given a positive feature request on linkedin, received at 2026-11-27 10:00 Europe/Vienna
    When grace replies at 2026-11-27 10:20 Europe/Vienna
    Then the reply is allowed
    And the deciding rule is "product-managers-answer-feature-requests"
    And the response is due by 2026-11-27 18:00 Europe/Vienna

  Scenario Outline: Product managers answer nothing else
    Given a <sentiment> <category> on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When grace replies at 2026-11-27 10:20 Europe/Vienna
    Then the reply <outcome>

    Examples:
      | sentiment | category        | outcome    |
      | neutral   | feature request | is allowed |
      | negative  | feature request | is denied  |
      | positive  | question        | is denied  |
      | positive  | praise          | is denied  |

  Scenario: A product manager's reply to a negative feature request is not permitted by any rule
    Given a negative feature request on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When grace replies at 2026-11-27 10:20 Europe/Vienna
    Then the reply is denied
    And no rule permits it
    And the reason says "no rule permits grace to reply on twitter"
