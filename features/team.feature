Feature: Who is on the social media team
  Only people the policy assigns a role may publish, and only what their role allows. Everyone
  else is refused, and the decision says they are not on the team.

  Background:
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna

  Scenario Outline: Outsiders may not publish, saying so
    When <actor> replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the deciding rule is "outsiders-may-not-publish"
    And the reason says "Not on the social media team"

    Examples:
      | actor                         |
      | mallory                       |
      | a member of sales named oscar |
      | Alice                         |

  Scenario: An outsider's new post is refused too
    When a member of sales named oscar posts on linkedin at Friday 2026-11-27 10:00 Europe/Vienna
    Then the post is denied
    And the deciding rule is "outsiders-may-not-publish"

  Scenario: Holding any role is enough not to be an outsider
    When erin replies at 2026-11-27 10:05 Europe/Vienna
    Then the deciding rules do not include "outsiders-may-not-publish"

  Scenario Outline: Team members reply only as their role allows
    When <actor> replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply <outcome>

    Examples:
      | actor                           | outcome    |
      | alice                           | is allowed |
      | bob                             | is allowed |
      | carol                           | is allowed |
      | dave                            | is allowed |
      | heidi                           | is allowed |
      | a member of care-team named zoe | is allowed |
      | erin                            | is denied  |
      | grace                           | is denied  |
      | frank                           | is denied  |

  Scenario: Legal alone does not answer posts
    When erin replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And no rule permits it

  Scenario Outline: Only marketing publishes new posts
    When <actor> posts on linkedin at Friday 2026-11-27 10:00 Europe/Vienna
    Then the post is denied
    And no rule permits it

    Examples:
      | actor |
      | alice |
      | carol |
      | dave  |
      | erin  |
      | grace |

  Scenario: A channel the policy does not declare is refused
    Given a positive question on tiktok, received at 2026-11-27 10:00 Europe/Vienna
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the reason says "channel 'tiktok' is not declared in the policy"
