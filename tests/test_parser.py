"""Parser: text to AST, spans, and syntax errors that say what to write instead."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from replygate.policy_dsl import ast
from replygate.policy_dsl.parser import parse_policy
from replygate.policy_dsl.source import PolicyError


def parse_rule(body: str) -> ast.Rule:
    declarations = parse_policy(f"rule r {{\n{body}\n}}\n", "t.policy").declarations
    rule = declarations[0]
    assert isinstance(rule, ast.Rule)
    return rule


def condition(text: str) -> ast.Expr:
    return parse_rule(f"allow on reply by anyone when {text}").when[0]


class TestDeclarations:
    def test_role_with_parents_and_unit(self) -> None:
        (role,) = parse_policy(
            "role comms_lead extends senior_agent, legal in communications"
        ).declarations
        assert role == ast.Role(
            ast.Name("comms_lead"),
            (ast.Name("senior_agent"), ast.Name("legal")),
            ast.Name("communications"),
        )

    def test_quoted_person_and_group_ids(self) -> None:
        person, group = parse_policy(
            'person "j.doe@acme.com" is agent\ngroup "care-team" is agent, legal'
        ).declarations
        assert person == ast.Person(ast.Name("j.doe@acme.com"), (ast.Name("agent"),))
        assert group == ast.Group(ast.Name("care-team"), (ast.Name("agent"), ast.Name("legal")))

    def test_calendar(self) -> None:
        (calendar,) = parse_policy(
            'calendar office { zone "Europe/Vienna" open mon-fri 08:00-18:00 open sat, sun 10:00-12:00, 13:00-24:00 closed 2026-12-24, 2026-12-25 }'
        ).declarations
        assert isinstance(calendar, ast.Calendar)
        assert calendar.hours[0].days == (0, 1, 2, 3, 4)
        assert calendar.hours[0].ranges == ((480, 1080),)
        assert calendar.hours[1].days == (5, 6)
        assert calendar.hours[1].ranges == ((600, 720), (780, 1440))
        assert calendar.closed == (date(2026, 12, 24), date(2026, 12, 25))
        assert not calendar.always

    def test_response_time(self) -> None:
        (response,) = parse_policy("respond to question within 1h30m during office").declarations
        assert response == ast.ResponseTime(
            ast.Name("question"), timedelta(minutes=90), ast.Name("office")
        )

    def test_period_window_defaults_to_midnight(self) -> None:
        (period,) = parse_policy(
            'period p { zone "UTC" from 2026-12-24 until 2026-12-27 06:30 }'
        ).declarations
        assert isinstance(period, ast.Period)
        assert period.windows[0].start == (date(2026, 12, 24), 0)
        assert period.windows[0].end == (date(2026, 12, 27), 390)


class TestRules:
    def test_clauses_in_any_order(self) -> None:
        rule = parse_rule(
            'message "m" by agent, legal via twitter on reply, post escalate to senior_agent'
        )
        assert rule.effect == ast.Effect("escalate", (ast.Name("senior_agent"),))
        assert rule.actions == (ast.Name("reply"), ast.Name("post"))
        assert rule.channels == (ast.Name("twitter"),)
        assert rule.roles == (ast.Name("agent"), ast.Name("legal"))
        assert rule.message == "m"

    def test_any_and_anyone_mean_no_restriction(self) -> None:
        rule = parse_rule("deny on any by anyone")
        assert rule.actions is None and rule.roles is None and rule.channels is None

    def test_approval_from_several_roles(self) -> None:
        rule = parse_rule("require approval from legal, comms_lead on post by anyone")
        assert rule.effect.kind == "approval_required"
        assert [r.value for r in rule.effect.roles] == ["legal", "comms_lead"]

    def test_message_escapes(self) -> None:
        rule = parse_rule(r'allow on reply by agent message "say \"hi\"\n"')
        assert rule.message == 'say "hi"\n'

    def test_the_four_escapes_are_read(self) -> None:
        rule = parse_rule(r'allow on reply by agent message "a\tb\nc \"d\" C:\\Users"')
        assert rule.message == 'a\tb\nc "d" C:\\Users'

    @pytest.mark.parametrize(
        ("text", "columns"),
        [
            (r'message "C:\Users"', [12]),
            (r'message "10\u20ac \x41 \q"', [12, 19, 24]),
            (r'when channel == "tw\itter"', [20]),
        ],
    )
    def test_an_unknown_escape_is_an_error_at_its_column(
        self, text: str, columns: list[int]
    ) -> None:
        """It used to lose its backslash without a word: "C:\\Users" read as "C:Users"."""
        line = " allow on reply by anyone "
        with pytest.raises(PolicyError) as caught:
            parse_policy(f"rule r {{\n{line}{text}\n}}\n", "t.policy")
        found = [(d.code, d.span.line, d.span.column) for d in caught.value.diagnostics]
        # `columns` count within `text`: each is the column of a backslash.
        assert found == [("bad-escape", 2, len(line) + column) for column in columns]
        assert "is not an escape a text knows" in caught.value.render()


class TestConditions:
    def test_precedence_not_and_or(self) -> None:
        parsed = condition("not a.b or c.d and e.f")
        assert isinstance(parsed, ast.Or)
        assert isinstance(parsed.operands[0], ast.Not)
        assert isinstance(parsed.operands[1], ast.And)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "post.author_reach >= 10_000",
                ast.Compare(ast.Path(("post", "author_reach")), ">=", ast.Literal(10000, "number")),
            ),
            (
                "post.age > 2h",
                ast.Compare(
                    ast.Path(("post", "age")), ">", ast.Literal(timedelta(hours=2), "duration")
                ),
            ),
            (
                'account == "@acme"',
                ast.Compare(ast.Path(("account",)), "==", ast.Literal("@acme", "text")),
            ),
            (
                "context.crisis == true",
                ast.Compare(ast.Path(("context", "crisis")), "==", ast.Literal(True, "bool")),
            ),
            (
                "channel not in [twitter, any]",
                ast.Member(
                    ast.Path(("channel",)),
                    (ast.Literal("twitter", "symbol"), ast.Literal("any", "symbol")),
                    True,
                ),
            ),
            (
                "content has label mentions_price",
                ast.HasLabel(ast.Path(("content",)), ast.Literal("mentions_price", "symbol")),
            ),
            (
                "content.text matches /a\\/b/i",
                ast.Matches(ast.Path(("content", "text")), "a/b", True),
            ),
            ("actor is not comms_lead", ast.ActorIs(ast.Name("comms_lead"), True)),
            ("actor has no role", ast.ActorHasNoRole()),
            ("actor in unit legal", ast.ActorInUnit(ast.Name("legal"))),
            ("now in office", ast.NowIn(ast.Name("office"))),
            ("deadline has passed", ast.DeadlinePassed()),
            ("context.crisis", ast.Truthy(ast.Path(("context", "crisis")))),
        ],
    )
    def test_condition_forms(self, text: str, expected: ast.Expr) -> None:
        assert condition(text) == expected

    def test_spans_point_at_the_source(self) -> None:
        rule = parse_rule("allow on reply by agent\n  when post.sentiment == negative")
        compare = rule.when[0]
        assert isinstance(compare, ast.Compare)
        assert (compare.span.line, compare.span.column) == (3, 8)
        assert (compare.value.span.line, compare.value.span.column) == (3, 26)

    def test_spans_do_not_take_part_in_equality(self) -> None:
        assert (
            condition("a.b == c")
            == parse_rule("allow\n on reply by agent when\n\n   a.b   ==   c").when[0]
        )


class TestSyntaxErrors:
    def test_every_broken_declaration_is_reported(self) -> None:
        text = "rule a { allow on reply by agent when x = 1 }\nrole ok\nrule b { allow on reply by agent message oops }\n"
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "two.policy")
        lines = [(d.span.line, d.span.column) for d in caught.value.diagnostics]
        assert lines == [(1, 41), (3, 42)]
        assert str(caught.value).startswith("two.policy:1:41: error: unexpected '='")

    @pytest.mark.parametrize(
        ("text", "where"),
        [
            ("role agent\nrule r {\n allow\n on reply\n by agent", (5, 10)),
            ("role agent\nrule r {\n allow\n on reply\n by agent\n\n\n", (5, 10)),
            ("role agent extends", (1, 19)),
            # Comments after the last word, or above the next declaration, are not the place.
            ("role agent extends\n\n# Seniors answer\nrole senior extends agent\n", (1, 19)),
            ("role agent\nrule r {\n allow\n on reply\n by agent  # trailing\n# more\n", (5, 10)),
        ],
    )
    def test_an_early_end_is_reported_where_the_text_ends(
        self, text: str, where: tuple[int, int]
    ) -> None:
        """It pointed at the last word's start (`agent`), which is not what is wrong."""
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        (found,) = caught.value.diagnostics
        assert (found.span.line, found.span.column) == where

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("rule r { allow on reply by agent when a.b = c }", "compare with '=='"),
            ("rule r { allow on reply by agent message hi }", "double quotes"),
            ("respond to x within 30 minutes", "durations like 30m"),
            ('calendar c { zone "UTC" open mon-fri 8-18 }', "HH:MM-HH:MM"),
            (
                "rule r { allow on reply by agent\nrule s { deny on any by anyone }",
                "'}' is missing",
            ),
            ("rule r { allow on reply by agent", "'}' is missing"),
            ("role agent extends", "ends too early"),
            # Where any value fits, no hint about one kind of them ("expected a duration").
            ("rule r { allow on reply by agent when channel in [] }", "at least one value"),
            ("rule r { allow on reply by agent when post.author_reach > -5 }", "without a sign"),
            (
                "rule r { allow on reply by agent when (post.author_reach >= ) }",
                "expected a value, found ')'",
            ),
        ],
    )
    def test_common_mistakes_get_a_hint(self, text: str, message: str) -> None:
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        assert message in caught.value.render()

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            # LALR merges states: the lookaheads after `person nr` were a roster's (`members`,
            # `}`, …), and the message said a block was open where none was.
            (
                "role agent\nperson nr\nrule r { deny on any by anyone }\n",
                "t.policy:2:10: error: the declaration is incomplete: expected 'is' [syntax]",
            ),
            ("role agent\nperson nr\n# the end\n", "the file ends too early: expected 'is'"),
        ],
    )
    def test_an_incomplete_declaration_names_what_can_follow(self, text: str, message: str) -> None:
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        (found,) = caught.value.diagnostics
        assert message in caught.value.render()
        assert "block" not in found.message and found.help is None

    def test_an_unterminated_text_is_one_error_at_its_quote(self) -> None:
        # Error recovery rescanned the line from each quote: quadratic (38 s for 80 KB).
        text = 'role a\nrule r { allow on reply by a message "' + '\\"' * 5_000 + "\nrole b\n"
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        found = [(d.span.line, d.span.column) for d in caught.value.diagnostics]
        assert found == [(2, 38)]

    @pytest.mark.parametrize(
        "condition",
        [
            "share complaint with u when\n    channel in [twitter]",  # indented
            "share complaint with u when\nchannel in [twitter]",  # after `when`
            "share complaint with u when channel in [twitter,\ninstagram]",  # after a comma
        ],
    )
    def test_a_condition_on_its_own_line_is_not_a_new_declaration(self, condition: str) -> None:
        """A line starting with `channel` was cut off as a declaration of its own: two errors
        invented on valid text beside the one real error."""
        text = f"role agent\nunit u\nchannel twitter, instagram\n{condition}\nrole broken extends\n"
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        (found,) = caught.value.diagnostics
        assert found.span.line == text.count("\n")

    def test_braces_in_a_pattern_do_not_open_a_block(self) -> None:
        text = (
            "role a\nrule r { deny on any by anyone when content.text matches /\\{/ }\n"
            "role x extends\nrole y\nrole z extends\n"
        )
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        assert [d.span.line for d in caught.value.diagnostics] == [3, 5]

    @pytest.mark.parametrize(
        ("number", "read_as"),
        [
            ("4503599627370496.5", "4503599627370496.0"),  # fmt rewrote the threshold so
            ("9007199254740993.0", "9007199254740992.0"),  # past 2^53, written as a decimal
            ("123456789012345.678", "123456789012345.67"),
        ],
    )
    def test_a_number_no_double_holds_exactly_is_refused(self, number: str, read_as: str) -> None:
        text = f"role a\nrule r {{ allow on reply by a when post.author_reach >= {number} }}\n"
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        (found,) = caught.value.diagnostics
        assert (found.code, found.span.column) == ("bad-number", 56)
        assert found.message.endswith(f"it would be read as {read_as}")

    @pytest.mark.parametrize("number", ["0.1", "2.50", "10_000", "1_000.25", "9007199254740992"])
    def test_numbers_a_double_holds_pass(self, number: str) -> None:
        parse_policy(
            f"role a\nrule r {{ allow on reply by a when post.author_reach >= {number} }}\n"
        )

    @pytest.mark.parametrize("number", ["1__000", "1_", "1_.5"])
    def test_underscores_only_between_digits(self, number: str) -> None:
        text = f"role a\nrule r {{ allow on reply by a when post.author_reach >= {number} }}\n"
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, "t.policy")
        assert [d.code for d in caught.value.diagnostics] == ["syntax"]

    def test_value_errors_are_reported_with_positions(self) -> None:
        with pytest.raises(PolicyError) as caught:
            parse_policy(
                'calendar c {\n  zone "UTC"\n  open mon 08:00-24:30\n  closed 2026-02-30\n}',
                "t.policy",
            )
        found = [(d.code, d.span.line) for d in caught.value.diagnostics]
        assert found == [("bad-time", 3), ("bad-date", 4)]
