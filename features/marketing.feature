Feature: Marketing publishes its own posts
  Marketing may post on LinkedIn and Instagram while the office is open (Monday to Friday
  08:00-18:00 Vienna time, not on public holidays). Anywhere else, or at any other time, the
  post is denied, and the decision says why. Marketing does not reply to posts.

  Scenario Outline: Marketing posts only while the office is open
    When frank posts on <channel> at <time>
    Then the post <outcome>
    And the deciding rule is "<rule>"

    Examples: opening and closing time on a winter Friday and Monday
      | channel   | time                                     | outcome    | rule                                 |
      | linkedin  | Friday 2026-11-27 17:59 Europe/Vienna    | is allowed | marketing-posts-in-office-hours      |
      | linkedin  | Friday 2026-11-27 18:00 Europe/Vienna    | is denied  | marketing-posts-only-in-office-hours |
      | instagram | Monday 2026-11-30 07:59:59 Europe/Vienna | is denied  | marketing-posts-only-in-office-hours |
      | instagram | Monday 2026-11-30 08:00 Europe/Vienna    | is allowed | marketing-posts-in-office-hours      |
      | instagram | 2026-11-30 07:00 UTC                     | is allowed | marketing-posts-in-office-hours      |

    Examples: weekends and public holidays
      | channel   | time                                     | outcome    | rule                                 |
      | linkedin  | Saturday 2026-11-28 10:00 Europe/Vienna  | is denied  | marketing-posts-only-in-office-hours |
      | linkedin  | Sunday 2026-11-29 12:00 Europe/Vienna    | is denied  | marketing-posts-only-in-office-hours |
      | linkedin  | Monday 2026-12-07 10:00 Europe/Vienna    | is allowed | marketing-posts-in-office-hours      |
      | linkedin  | Tuesday 2026-12-08 10:00 Europe/Vienna   | is denied  | marketing-posts-only-in-office-hours |
      | instagram | Thursday 2026-12-24 10:00 Europe/Vienna  | is denied  | marketing-posts-only-in-office-hours |
      | instagram | Friday 2027-01-01 10:00 Europe/Vienna    | is denied  | marketing-posts-only-in-office-hours |
      | instagram | Wednesday 2027-01-06 10:00 Europe/Vienna | is denied  | marketing-posts-only-in-office-hours |
      | instagram | Thursday 2027-01-07 10:00 Europe/Vienna  | is allowed | marketing-posts-in-office-hours      |

    Examples: summer time moves opening hours in UTC, not in Vienna
      | channel  | time                                  | outcome    | rule                                 |
      | linkedin | Friday 2026-10-23 08:00 Europe/Vienna | is allowed | marketing-posts-in-office-hours      |
      | linkedin | 2026-10-23 05:59 UTC                  | is denied  | marketing-posts-only-in-office-hours |
      | linkedin | Monday 2026-10-26 07:30 Europe/Vienna | is denied  | marketing-posts-only-in-office-hours |
      | linkedin | 2026-10-26 07:30 UTC                  | is allowed | marketing-posts-in-office-hours      |

  Scenario Outline: Marketing posts only on LinkedIn and Instagram
    When frank posts on <channel> at Friday 2026-11-27 10:00 Europe/Vienna
    Then the post is denied
    And the deciding rule is "marketing-posts-only-on-linkedin-and-instagram"
    And the reason says "Marketing posts only on LinkedIn and Instagram."

    Examples:
      | channel  |
      | twitter  |
      | facebook |

  Scenario: On the wrong channel after hours, both reasons are given
    When frank posts on twitter at Friday 2026-11-27 19:00 Europe/Vienna
    Then the post is denied
    And the deciding rules are "marketing-posts-only-on-linkedin-and-instagram" and "marketing-posts-only-in-office-hours"

  Scenario: Marketing does not reply to posts
    Given a positive praise post on instagram, received at 2026-11-27 10:00 Europe/Vienna
    When frank replies at 2026-11-27 10:05 Europe/Vienna
    Then the reply is denied
    And the deciding rule is "marketing-does-not-reply"
    And the reason says "customer care does"

  Scenario: Marketing's post mentioning a price needs legal
    Given the new post is labelled mentions_price
    When frank posts on instagram at Friday 2026-11-27 11:00 Europe/Vienna
    Then the post needs approval from legal
    Given erin has approved
    Then the post is allowed
