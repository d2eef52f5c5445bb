Feature: What a reply may say
  Content that mentions prices or makes legal claims needs legal's approval, unless the person
  publishing holds the legal role. Nobody promises outcomes: the word "guarantee" or
  "guaranteed", in any case, is denied for everyone.

  Background:
    Given a positive question on twitter from an author with 300 followers, received at 2026-11-27 10:00 Europe/Vienna

  Scenario Outline: Prices and legal claims need legal
    Given the reply is labelled <labels>
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply needs approval from legal
    And the deciding rule is "price-and-legal-claims-need-legal"

    Examples:
      | labels                      |
      | mentions_price              |
      | legal_claim                 |
      | mentions_price, legal_claim |

  Scenario: Other labels need nobody's approval
    Given the reply is labelled promo and apology
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed
    And the deciding rules do not include "price-and-legal-claims-need-legal"

  Scenario: Someone who holds legal needs no legal approval
    Given the content is labelled mentions_price
    When heidi replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed

  Scenario: Labels on the original post do not count, only on what is published
    Given the original post is labelled mentions_price
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed

  Scenario Outline: Promises of outcomes are denied, for everyone
    Given the reply says "<text>"
    When <actor> replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the deciding rule is "no-promises-of-outcomes"

    Examples:
      | actor | text                                      |
      | alice | We guarantee a full refund.               |
      | dave  | Delivery GUARANTEED by Monday             |
      | carol | Guaranteed: your parcel arrives tomorrow. |

  Scenario Outline: Words that merely contain "guarantee" are fine
    Given the reply says "<text>"
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is allowed

    Examples:
      | text                                |
      | Our guarantees page explains it.    |
      | Thanks, we will look into it today. |

  Scenario: A longer reply written as a text block
    Given the reply says:
      """
      Dear customer,
      we guarantee that this will never happen again.
      """
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the reason says "Promises of outcomes"

  Scenario: The promise rule applies to new posts as well
    Given the new post says "Guaranteed lowest prices!"
    When frank posts on linkedin at 2026-11-27 10:00 Europe/Vienna
    Then the post is denied
    And the deciding rule is "no-promises-of-outcomes"
