Feature: Who is on duty, who gets the post, and whether anyone can answer in time
  Customer care's office covers working hours, the evening and weekend rota takes turns weekly
  (handoff Mondays at 08:00 Vienna, carol's week first from 2026-11-30), carol covers Christmas
  in ivan's week, and the comms lead is on call every day from 07:00 to 23:00. A post is
  covered when someone who may answer it is on duty before it is due.

  Scenario: The evening rota hands over on Monday morning
    Given a negative complaint on twitter, received at Monday 2026-11-30 18:30 Europe/Vienna
    When the post is routed at Monday 2026-11-30 18:30 Europe/Vienna
    Then carol is on duty
    And ivan is not on duty
    When the post is routed at Monday 2026-12-07 18:30 Europe/Vienna
    Then ivan is on duty
    And carol is not on duty

  Scenario: Carol covers Christmas Eve in ivan's week
    Given a neutral question on facebook, received at Thursday 2026-12-24 19:00 Europe/Vienna
    When the post is routed at Thursday 2026-12-24 19:00 Europe/Vienna
    Then carol is on duty
    And ivan is not on duty

  Scenario: A viral complaint on Saturday evening goes to the comms lead on call
    Given a negative complaint on twitter from an author with 25000 followers, received at Saturday 2026-12-05 22:10 Europe/Vienna
    When the post is routed at Saturday 2026-12-05 22:15 Europe/Vienna
    Then the post can be answered by dave
    And someone on duty can answer it before its deadline
    And customer_service is informed

  Scenario: A complaint after 23:00 has nobody on duty before its deadline
    Given a negative complaint on twitter, received at Saturday 2026-12-05 23:30 Europe/Vienna
    When the post is routed
    Then nobody on duty can answer it before its deadline

  Scenario: Feature requests reach product management
    Given a positive feature request on linkedin, received at Tuesday 2026-12-01 10:00 Europe/Vienna
    When the post is routed
    Then the post can be answered by grace
    And grace is on duty
    And product_management is informed
