Feature: Crisis posts and crisis mode
  A post about a crisis is answered by the communications lead: everyone else hands it on.
  In crisis mode nobody but the communications lead publishes anything at all.

  Scenario Outline: Everyone but the comms lead hands a crisis post on
    Given a <sentiment> crisis post on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When <actor> replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply escalates to comms_lead
    And the deciding rule is "crisis-post-goes-to-comms-lead"
    And the response is due by 2026-11-27 10:15 Europe/Vienna

    Examples:
      | actor | sentiment |
      | alice | neutral   |
      | carol | positive  |
      | carol | negative  |
      | erin  | neutral   |
      | grace | positive  |

  Scenario: A negative crisis post: of two escalations, the more senior target wins
    Given a negative crisis post on facebook, received at 2026-11-27 10:00 Europe/Vienna
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply escalates to comms_lead
    And the deciding rules are "negative-post-goes-to-senior-agent" and "crisis-post-goes-to-comms-lead"

  Scenario: The comms lead answers a crisis post
    Given a negative crisis post on twitter from an author with 80000 followers, received at 2026-11-27 10:00 Europe/Vienna
    When dave replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed
    And the deciding rules do not include "crisis-post-goes-to-comms-lead"

  Scenario: Marketing does not even hand a crisis post on: it does not reply at all
    Given a neutral crisis post on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When frank replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the deciding rule is "marketing-does-not-reply"

  Scenario Outline: In crisis mode only the comms lead publishes
    Given crisis mode is on
    And a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When <actor> replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply <outcome>

    Examples:
      | actor | outcome    |
      | alice | is denied  |
      | carol | is denied  |
      | heidi | is denied  |
      | grace | is denied  |
      | dave  | is allowed |

  Scenario: Crisis mode says why it denies
    Given crisis mode is on
    And a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When carol replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the deciding rule is "crisis-mode-only-comms-lead"
    And the reason says "Crisis mode: nobody but the communications lead may publish."

  Scenario: Crisis mode stops marketing's own posts too, even in office hours
    Given crisis mode is on
    When frank posts on linkedin at Friday 2026-11-27 10:00 Europe/Vienna
    Then the post is denied
    And the deciding rule is "crisis-mode-only-comms-lead"

  Scenario: Crisis mode does not stop the comms lead answering a crisis post
    Given crisis mode is on
    And a negative crisis post on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When dave replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed

  Scenario: Crisis mode turned off changes nothing
    Given crisis mode is off
    And a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed

  Scenario: Switching crisis mode on during a conversation
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed
    Given crisis mode is on
    Then the reply is denied
