"""The fast parser on the edge cases of the text format, and on bad lines."""

from __future__ import annotations

import math

import pytest

from collector.exposition import MAX_ISSUES, PageParser, ParsedPage, family_of, parse_labels


def parse(text: str) -> tuple[PageParser, ParsedPage]:
    parser = PageParser()
    return parser, parser.parse(text)


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    parser, page = parse(text)
    return [(parser.info(k).name, parser.info(k).label_dict, v) for k, v in zip(page.keys, page.values)]


def test_escaped_quote_backslash_and_newline_in_label_values() -> None:
    got = samples('m{a="say \\"hi\\"",b="C:\\\\dir",c="two\\nlines",d="keep\\x"} 1\n')
    assert got == [("m", {"a": 'say "hi"', "b": "C:\\dir", "c": "two\nlines", "d": "keep\\x"}, 1.0)]


def test_closing_brace_comma_and_equals_inside_a_label_value() -> None:
    got = samples('m{a="x}y",b="p,q=r"} 2\n')
    assert got == [("m", {"a": "x}y", "b": "p,q=r"}, 2.0)]


def test_timestamp_after_the_value_is_accepted_and_ignored() -> None:
    assert samples('m 3 1700000000000\nn{a="b"} 4 -5\n') == [("m", {}, 3.0), ("n", {"a": "b"}, 4.0)]


def test_bad_timestamp_is_an_issue() -> None:
    _, page = parse("m 3 soon\n")
    assert page.keys == [] and page.issues[0].line == 1


@pytest.mark.parametrize(
    "line",
    [
        'm{a="1",b="2"} 5',
        'm { a = "1" , b = "2" } 5',
        'm{a="1",b="2",} 5',
        '  m{a="1",b="2"}\t5',
        'm{a="1",b="2"}5',
        'm{a="1",b="2"} 5 ',
        'm{a="1",b="2"} 5\r',
    ],
)
def test_whitespace_variants_name_the_same_series(line: str) -> None:
    parser, page = parse(line + "\n")
    assert page.keys == ['m{a="1",b="2"}'], page.issues
    assert page.values == [5.0]
    assert parser.info(page.keys[0]).labels == (("a", "1"), ("b", "2"))


def test_crlf_page_eof_marker_and_blank_or_space_only_lines() -> None:
    text = "# HELP m Help.\r\n# TYPE m gauge\r\nm 1\r\n   \r\n\t\n\r\n# EOF\r\nn_total 2\r\n"
    parser, page = parse(text)
    assert [(parser.info(k).name, v) for k, v in zip(page.keys, page.values)] == [("m", 1.0), ("n_total", 2.0)]
    assert page.issues == []
    assert page.types == {"m": "gauge"}
    assert page.helps == {"m": "Help."}


def test_empty_braces_are_the_unlabelled_series() -> None:
    _, page = parse("m{} 1\nm 2\n")
    assert page.keys == ["m"] and page.values == [1.0]
    assert "duplicate series m" in page.issues[0].message and page.issues[0].line == 2


def test_duplicate_series_keeps_the_first_and_names_the_line() -> None:
    _, page = parse('a{x="1"} 1\nb 5\na{x="1"} 9\na{ x="1" } 10\n')
    assert page.values == [1.0, 5.0]
    assert [i.line for i in page.issues] == [3, 4]
    assert all("duplicate series" in i.message for i in page.issues)


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf", "nan", "1e999"])
def test_non_finite_values_are_dropped_as_issues(value: str) -> None:
    _, page = parse(f"ok 1\nbad {value}\nok2 2\n")
    assert page.values == [1.0, 2.0]
    assert page.issues[0].line == 2 and "not a finite number" in page.issues[0].message


def test_dcgm_blank_sentinels_are_dropped_and_counted() -> None:
    # int64 blanks (int64 max minus 0..15) and FP64 blanks (2**47 + 0..3) as dcgm prints them
    text = (
        'DCGM_FI_DEV_MEMORY_TEMP{gpu="0"} 9223372036854775794\n'
        'DCGM_FI_DEV_MEMORY_TEMP{gpu="1"} 9223372036854775807\n'
        'DCGM_FI_DEV_POWER_USAGE{gpu="0"} 140737488355328.000000\n'
        'DCGM_FI_DEV_POWER_USAGE{gpu="1"} 140737488355330\n'
        'DCGM_FI_DEV_GPU_TEMP{gpu="0"} 41\n'
        # a real counter past the same magnitudes is kept
        'vllm:estimated_flops_per_gpu_total{engine="0"} 9.3e18\n'
        'DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL{gpu="0"} 140737488355400\n'
    )
    _, page = parse(text)
    assert page.blank == 4
    assert page.values == [41.0, 9.3e18, 140737488355400.0]
    assert page.issues == []


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('m{a="1" 5', "never closed"),
        ('m{a="1} 5', "not closed"),
        ("m{a=1} 5", "not quoted"),
        ('m{a="1" b="2"} 5', "expected ','"),
        ('m{a="1",,b="2"} 5', "two commas"),
        ('m{a="1",a="2"} 5', "appears twice"),
        ('m{1a="1"} 5', "bad label name"),
        ('m{é="1"} 5', "bad label name"),
        ("m", "expected 'name value"),
        ("m 1 2 3", "expected 'name value"),
        ("m 1_000", "not a number"),
        ("m abc", "not a number"),
        ("1m 5", "bad metric name"),
        ("<html><body>502 Bad Gateway</body></html>", "looks like HTML"),
        ("# TYPE m", "TYPE line without a type"),
    ],
)
def test_malformed_line_is_an_issue_naming_its_line_and_the_rest_survives(line: str, fragment: str) -> None:
    _, page = parse(f"before 1\n{line}\nafter 2\n")
    assert page.values == [1.0, 2.0]
    assert len(page.issues) == 1
    assert page.issues[0].line == 2
    assert fragment in page.issues[0].message


def test_truncated_page_keeps_every_complete_line() -> None:
    # cut mid-labels, as the vllm 0.8 page's source was (its last line "vllm:gpu_prefix")
    _, page = parse('a 1\nb{x="1"} 2\nvllm:gpu_prefix_cache_queries_total{model_name="Qw')
    assert page.values == [1.0, 2.0]
    assert page.issues[0].line == 3
    _, page = parse("a 1\nb 2\nvllm:gpu_prefix")
    assert page.values == [1.0, 2.0] and page.issues[0].line == 3


def test_a_garbage_page_lists_at_most_max_issues() -> None:
    _, page = parse("\n".join(f"<junk {i}>" for i in range(MAX_ISSUES + 50)))
    assert len(page.issues) == MAX_ISSUES
    assert page.truncated_issues == 50


def test_known_series_are_cached_and_a_second_parse_agrees() -> None:
    parser = PageParser()
    text = 'a{x="1"} 1\nb 2\n'
    first = parser.parse(text)
    infos = dict(parser.series)
    second = parser.parse(text.replace(" 1\n", " 7\n"))
    assert second.keys == first.keys and second.values == [7.0, 2.0]
    assert parser.series == infos  # nothing new was parsed


def test_help_is_recorded_and_attached_to_the_family_series() -> None:
    text = (
        "# HELP vllm:gpu_prefix_cache_queries_total GPU prefix cache queries, in terms of number of queried blocks.\n"
        "# TYPE vllm:gpu_prefix_cache_queries_total counter\n"
        'vllm:gpu_prefix_cache_queries_total{model_name="m"} 3.0\n'
        "# HELP h Latency.\n# TYPE h histogram\n"
        'h_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1\n'
    )
    parser, page = parse(text)
    infos = [parser.info(k) for k in page.keys]
    assert infos[0].help.endswith("number of queried blocks.")
    assert {i.help for i in infos[1:]} == {"Latency."}


def test_parse_labels_is_strict_about_structure() -> None:
    assert parse_labels(',a="1"') == (("a", "1"),)
    assert parse_labels('a="1",') == (("a", "1"),)
    assert parse_labels("") == ()
    with pytest.raises(ValueError):
        parse_labels('a="1\\')


@pytest.mark.parametrize(
    ("name", "types", "family"),
    [
        ("vllm:prompt_tokens_total", {"vllm:prompt_tokens_total": "counter", "vllm:prompt_tokens": "counter"},
         ("vllm:prompt_tokens", "_total")),
        ("vllm:prompt_tokens_created", {"vllm:prompt_tokens_created": "gauge", "vllm:prompt_tokens": "counter"},
         ("vllm:prompt_tokens", "_created")),
        ("vllm:iteration_tokens_total_sum", {"vllm:iteration_tokens_total": "histogram"},
         ("vllm:iteration_tokens_total", "_sum")),
        ("vllm:iteration_tokens_total_created", {"vllm:iteration_tokens_total": "histogram"},
         ("vllm:iteration_tokens_total", "_created")),
        ("tgi_request_success", {"tgi_request_success": "counter"}, ("tgi_request_success", "")),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", {"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": "counter"},
         ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "")),
        ("foo_count", {"foo_count": "gauge"}, ("foo_count", "")),
        ("x_bucket", {}, ("x", "_bucket")),
    ],
)  # fmt: skip
def test_family_of_ties_counter_created_and_histogram_parts(
    name: str, types: dict[str, str], family: tuple[str, str]
) -> None:
    assert family_of(name, types) == family


def test_counter_type_line_also_types_its_openmetrics_family() -> None:
    _, page = parse("# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total 1\n")
    assert page.types["vllm:prompt_tokens"] == "counter"


def test_values_parse_like_prometheus() -> None:
    got = [v for _, _, v in samples("a 1\nb -2.5\nc 1e3\nd +5\ne .5\nf 6.634254336e+09\n")]
    assert got == [1.0, -2.5, 1000.0, 5.0, 0.5, 6.634254336e09]
    assert all(math.isfinite(v) for v in got)
