Feature: Response deadlines
  Complaints are due in 30 minutes and crises in 15, around the clock; praise within a day.
  Questions (4 hours) and feature requests (8 hours) count office time only: Monday to Friday
  08:00-18:00 in Vienna, not on public holidays. A post that arrives while the office is closed
  starts its clock at the next opening. A complaint past its deadline is no longer an agent's
  to answer: it goes to a senior agent.

  Scenario Outline: Each category has its own response time
    Given a neutral <category> on twitter, received at <received>
    When carol replies at <received>
    Then the response is due by <due>

    Examples:
      | category        | received                              | due                                     |
      | complaint       | Friday 2026-11-27 21:40 Europe/Vienna | Friday 2026-11-27 22:10 Europe/Vienna   |
      | crisis          | Friday 2026-11-27 10:00 Europe/Vienna | Friday 2026-11-27 10:15 Europe/Vienna   |
      | praise          | Friday 2026-11-27 10:00 Europe/Vienna | Saturday 2026-11-28 10:00 Europe/Vienna |
      | question        | Friday 2026-11-27 10:00 Europe/Vienna | Friday 2026-11-27 14:00 Europe/Vienna   |
      | feature request | Friday 2026-11-27 09:00 Europe/Vienna | Friday 2026-11-27 17:00 Europe/Vienna   |

  Scenario: A complaint answered exactly at its deadline is on time
    Given a neutral complaint on twitter, received at 2026-11-27 21:40 Europe/Vienna
    When alice replies at 2026-11-27 22:10 Europe/Vienna
    Then the reply is allowed
    And the response is due by 2026-11-27 22:10 Europe/Vienna
    And the response deadline is met

  Scenario: One second after the deadline an agent may no longer answer the complaint
    Given a neutral complaint on twitter, received at 2026-11-27 21:40 Europe/Vienna
    When alice replies at 2026-11-27 22:10:01 Europe/Vienna
    Then the reply escalates to senior_agent
    And the deciding rule is "overdue-complaint-goes-to-senior-agent"
    And the response deadline is missed

  Scenario: The same, counted in minutes since the complaint arrived
    Given a positive complaint on facebook, received at 2026-11-27 21:40 Europe/Vienna
    When bob replies 30 minutes after it was received
    Then the reply is allowed
    When bob replies 31 minutes after it was received
    Then the reply escalates to senior_agent

  Scenario: A senior agent may still answer an overdue complaint
    Given a neutral complaint on twitter, received at 2026-11-27 21:40 Europe/Vienna
    When carol replies at 2026-11-27 23:00 Europe/Vienna
    Then the reply is allowed
    And the response deadline is missed
    And the deciding rules do not include "overdue-complaint-goes-to-senior-agent"

  Scenario: The comms lead may still answer an overdue negative complaint
    Given a negative complaint on twitter from an author with 40000 followers, received at 2026-11-27 21:40 Europe/Vienna
    When dave replies at Saturday 2026-11-28 09:00 Europe/Vienna
    Then the reply is allowed
    And the response deadline is missed

  Scenario: A late answer to a question is still allowed; only complaints change hands
    Given a neutral question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When alice replies at 2026-11-27 16:00 Europe/Vienna
    Then the reply is allowed
    And the response deadline is missed

  Scenario: A question late on Friday is due on Monday: exactly met, and just missed
    Given a positive question on twitter, received at Friday 2026-11-27 16:00 Europe/Vienna
    When alice replies at Monday 2026-11-30 10:00 Europe/Vienna
    Then the response is due by Monday 2026-11-30 10:00 Europe/Vienna
    And the response deadline is met
    When alice replies at Monday 2026-11-30 10:01 Europe/Vienna
    Then the response deadline is missed
    And the reply is allowed

  Scenario: A question on Saturday starts its clock on Monday at 08:00
    Given a positive question on instagram, received at Saturday 2026-11-28 10:00 Europe/Vienna
    When alice replies at Saturday 2026-11-28 10:05 Europe/Vienna
    Then the response is due by Monday 2026-11-30 12:00 Europe/Vienna

  Scenario: A question at 14:00 is due at closing time, not the next morning
    Given a positive question on twitter, received at 2026-11-27 14:00 Europe/Vienna
    When alice replies at 2026-11-27 14:05 Europe/Vienna
    Then the response is due by 2026-11-27 18:00 Europe/Vienna

  Scenario: A question on a public holiday waits for the next working day
    Given a neutral question on twitter, received at Tuesday 2026-12-08 09:00 Europe/Vienna
    When alice replies at 2026-12-08 09:30 Europe/Vienna
    Then the response is due by Wednesday 2026-12-09 12:00 Europe/Vienna

  Scenario: A feature request before Christmas skips the holidays and the weekend
    Given a positive feature request on linkedin, received at Wednesday 2026-12-23 16:00 Europe/Vienna
    When grace replies at 2026-12-23 16:30 Europe/Vienna
    Then the response is due by Monday 2026-12-28 14:00 Europe/Vienna

  Scenario: A complaint counts real minutes across the autumn daylight-saving change
    # On 25 October 2026 the clocks go back from 03:00 summer time (+02:00) to 02:00 (+01:00):
    # the hour 02:00-03:00 happens twice, so times in it are written with their offset.
    Given a neutral complaint on twitter, received at 2026-10-25 02:50 +02:00
    When alice replies at 2026-10-25 02:15 +01:00
    Then the response is due by 2026-10-25 02:20 +01:00
    And the reply is allowed
    When alice replies at 2026-10-25 02:21 +01:00
    Then the response deadline is missed
    And the reply escalates to senior_agent

  Scenario: A question on the last summer-time Friday is due on the first winter Monday
    Given a positive question on twitter, received at Friday 2026-10-23 17:00 Europe/Vienna
    When alice replies at 2026-10-23 17:01 Europe/Vienna
    Then the response is due by Monday 2026-10-26 11:00 Europe/Vienna

  Scenario: Praise across the spring change is 24 real hours, 25 on the wall clock
    Given a positive praise post on twitter, received at Saturday 2026-03-28 12:00 Europe/Vienna
    When alice replies at 2026-03-28 12:01 Europe/Vienna
    Then the response is due by Sunday 2026-03-29 13:00 Europe/Vienna

  Scenario: Deadlines can be checked in UTC as well
    Given a positive question on twitter, received at 2026-11-27 10:00 Europe/Vienna
    When alice replies at 2026-11-27 10:05 Europe/Vienna
    Then the response is due by 2026-11-27 13:00 UTC

  Scenario: A new post answers no post and has no deadline
    When frank posts on linkedin at Friday 2026-11-27 10:00 Europe/Vienna
    Then the post is allowed
    And there is no response deadline
