//! `stream:` on http steps (issue #6): the spellings it takes and its mistakes, each at its
//! line and column.

use stampede_plan::ResponseStream;

use super::{assert_one, http_step, ok};

fn plan_with(stream: &str) -> String {
    format!(
        "target: http://127.0.0.1:1\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n    duration: 1s\n    flow:\n      - http:\n          url: /sse\n          stream: {stream}\n"
    )
}

#[test]
fn stream_takes_a_format_or_a_preset() {
    let cases = [
        ("sse", ResponseStream::Sse),
        ("lines", ResponseStream::Lines),
        ("openai", ResponseStream::OpenAiChat),
        ("{ preset: openai }", ResponseStream::OpenAiChat),
        ("{ format: sse, preset: openai }", ResponseStream::OpenAiChat),
        ("{ format: lines }", ResponseStream::Lines),
        ("{ format: sse }", ResponseStream::Sse),
    ];
    for (written, expected) in cases {
        let plan = ok(&plan_with(written));
        assert_eq!(http_step(&plan, 0).stream, Some(expected), "stream: {written}");
    }
    let plain = ok(&plan_with("sse").replace("          stream: sse\n", ""));
    assert_eq!(http_step(&plain, 0).stream, None);
}

#[test]
fn stream_mistakes_are_reported_where_they_are() {
    assert_one(
        &plan_with("see"),
        10,
        19,
        "unknown stream `see`; expected one of: sse, lines, openai; did you mean `sse`?",
    );
    assert_one(
        &plan_with("{ preset: anthropic }"),
        10,
        29,
        "unknown stream `anthropic`; expected one of: openai",
    );
    assert_one(
        &plan_with("{ format: lines, preset: openai }"),
        10,
        21,
        "the `openai` preset reads server-sent events",
    );
    assert_one(
        &plan_with("{ prest: openai }"),
        10,
        21,
        "unknown key `prest`; expected one of: format, preset; did you mean `preset`?",
    );
    assert_one(&plan_with("{}"), 10, 19, "expected a stream format");
    assert_one(
        &plan_with("true"),
        10,
        19,
        "expected a stream format: `sse`, `lines`, `openai` or `{ preset: openai }`, found",
    );
}
