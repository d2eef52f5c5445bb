Feature: Naming a competitor
  Content that names a competitor needs marketing's approval, whoever publishes it. The names
  are the policy's list `competitors`, matched as whole words in any case, with any white space
  between the words: a longer word that merely contains a name does not count.

  Background:
    Given a positive question on twitter from an author with 300 followers, received at 2026-11-27 10:00 Europe/Vienna

  Scenario Outline: A competitor's name, in any case and spacing, needs marketing
    Given the reply says "<text>"
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply needs approval from marketing
    And the deciding rule is "competitor-mentions-need-marketing"

    Examples:
      | text                                    |
      | Unlike Acme Rival, we ship on Sundays.  |
      | acme  rival is not our partner          |
      | (RIVAL CORP) asked us the same.         |

  Scenario Outline: Longer words that contain a name are not a mention
    Given the reply says "<text>"
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed
    And the deciding rules do not include "competitor-mentions-need-marketing"

    Examples:
      | text                                 |
      | AcmeRivalry is a board game.         |
      | Rival Corporation is someone else.   |
      | Thanks, we will look into it today.  |

  Scenario: Marketing's approval completes the reply
    Given the reply says "We are not Acme Rival."
    And frank has approved
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed
    And the deciding rules are "agents-reply-to-positive-and-neutral" and "competitor-mentions-need-marketing"

  Scenario: Marketing names a competitor in its own post without anyone else's approval
    Given the new post says "Better than Rival Corp!"
    When frank posts on linkedin at 2026-11-27 10:00 Europe/Vienna
    Then the post is allowed
    And the deciding rules are "marketing-posts-in-office-hours" and "competitor-mentions-need-marketing"
