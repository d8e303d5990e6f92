"""The generic Jupyter kernel conformance suite (jupyter_kernel_test) for rustpar."""

from __future__ import annotations

import jupyter_kernel_test
import pytest

import helpers
from helpers import CELL_TIMEOUT, start_kernel, stop_kernel

pytestmark = pytest.mark.timeout(600)

# The suite waits 15 s for kernel_info and inspect replies. Inspecting asks
# rust-analyzer, whose first answer (loading the standard library) can take
# longer on a small machine; cells get CELL_TIMEOUT through execute_helper.
jupyter_kernel_test.TIMEOUT = 60


class RustparKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "rustpar"
    language_name = "rust"
    file_extension = ".rs"

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("something on stderr");'

    # No "matches" key: the suite would then demand the exact set of
    # completions; test_kernel_behaviour checks that HashMap is offered.
    completion_samples = [
        {"text": "std::collections::HashM"},
        {"text": "let v: Vec<i32> = Vec::new(); v.le"},
    ]

    complete_code_samples = [
        "let x = 1;",
        "1 + 1",
        'println!("hi");',
        "fn f() -> i32 { 1 }",
        "struct P { x: i32 }",
        "let v = vec![1, 2, 3];\nv.len()",
        ":timing",
    ]
    incomplete_code_samples = [
        "fn f() {",
        "let v = vec![1,\n2,",
        "struct P {\n    x: i32,",
        "if true {",
        'let s = "unterminated',
    ]
    invalid_code_samples = [
        "let x = );",
        "fn f() { let }; }",
        "}",
    ]

    # `?name` (or `:doc name`) opens the documentation in the pager.
    code_page_something = "?Vec"

    code_generate_error = 'panic!("this cell fails on purpose")'

    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": '"abc".len()', "result": "3"},
    ]

    code_display_data = [{"code": helpers.PRELUDE_HTML_DISPLAY, "mime": "text/html"}]

    code_history_pattern = "6?7"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Vec"

    code_clear_output = 'println!("soon gone");\n' + helpers.PRELUDE_CLEAR_OUTPUT

    @classmethod
    def setUpClass(cls) -> None:
        # A warm kernel, so that the suite's 15 s per request suffices.
        cls.km, cls.kc = start_kernel()

    @classmethod
    def tearDownClass(cls) -> None:
        stop_kernel(cls.km, cls.kc)

    def execute_helper(self, code, timeout=CELL_TIMEOUT, silent=False, store_history=True, stop_on_error=True):
        # Same checks as the suite's, with a timeout fit for compiled cells.
        return super().execute_helper(
            code, timeout=timeout, silent=silent, store_history=store_history, stop_on_error=stop_on_error
        )


class RustparIopubWelcomeTests(jupyter_kernel_test.IopubWelcomeTests):
    kernel_name = "rustpar"
    support_iopub_welcome = True
    # The suite waits for the welcome without a timeout.
    pytestmark = [pytest.mark.timeout(120)]

