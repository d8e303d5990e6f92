"""The prelude, seen through a real kernel: loaded without any :dep, plots as
separate SVG displays, displays updated in place, the thread-scaling study."""

from __future__ import annotations

from helpers import assert_ok, only, result_text, run


def test_a_fresh_kernel_has_the_prelude_without_any_dep(kc):
    reply, msgs = run(kc, "use rayon::prelude::*;\nlet total: u64 = (1..=100u64).into_par_iter().sum();\n(total, cores() >= 1)")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "(5050, true)"


def test_two_plots_in_one_cell_are_two_svg_displays(kc):
    code = (
        'Plot::new("first chart").line("squares", &[0.0, 1.0, 2.0], &[0.0, 1.0, 4.0]).show();\n'
        'Plot::new("second chart").scatter("points", &[1.0, 2.0], &[3.0, 1.0]).show();'
    )
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    displays = only(msgs, "display_data")
    assert len(displays) == 2, msgs
    svgs = [d["content"]["data"].get("image/svg+xml", "") for d in displays]
    assert all("<svg" in svg for svg in svgs)
    assert "first chart" in svgs[0] and "second chart" in svgs[1]


def test_a_display_handle_updates_in_place(kc):
    reply, msgs = run(kc, 'let status = DisplayHandle::new();\nstatus.markdown("step 1");\nstatus.markdown("step 2");')
    assert_ok(reply, msgs)
    shown, updated = only(msgs, "display_data"), only(msgs, "update_display_data")
    assert len(shown) == 1 and len(updated) == 1, msgs
    display_id = shown[0]["content"]["transient"]["display_id"]
    assert updated[0]["content"]["transient"]["display_id"] == display_id
    assert updated[0]["content"]["data"]["text/markdown"] == "step 2"


def test_a_progress_bar_updates_in_place(kc):
    code = "let bar = progress(50);\nfor _ in 0..50 { bar.inc(); sleep(std::time::Duration::from_millis(4)); }\nbar.finish();"
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    assert only(msgs, "display_data"), msgs
    assert only(msgs, "update_display_data"), msgs
    last = only(msgs, "update_display_data")[-1]["content"]["data"]
    assert "50" in last["text/plain"], last


def test_the_scaling_study_reports_full_efficiency_at_one_thread_and_draws_svg(kc):
    code = (
        "let study = scaling(2, || (0..200_000u64).into_par_iter().map(|x| x % 7).sum::<u64>());\n"
        "(study.threads.clone(), study.efficiency[0])"
    )
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    assert result_text(msgs) == "([1, 2], 1.0)"
    svgs = [d["content"]["data"].get("image/svg+xml", "") for d in only(msgs, "display_data")]
    assert any("<svg" in svg for svg in svgs), msgs
