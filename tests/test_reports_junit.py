"""JUnit XML: what CI consumers read, and validity against the strict xunit junit-10.xsd."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import test_reports_samples as samples
from refdata import JUNIT_XSD as XSD

from gate.reports.junit import render_junit, write_junit

TIME = re.compile(r"^\d+\.\d{3}$")


def parse(result) -> ET.Element:
    return ET.fromstring(render_junit(result))


def assert_structurally_valid(root: ET.Element) -> None:
    """What junit-10.xsd demands, checked without the XSD (the copy-free part)."""
    assert root.tag == "testsuites" and TIME.match(root.get("time", ""))
    assert root.findall("testsuite"), "at least one testsuite"
    seen = set()
    for element in root.iter():
        assert not {"disabled", "file", "line", "assertions"} & set(element.attrib)
    for suite in root.findall("testsuite"):
        for attribute in ("name", "tests", "failures", "errors"):
            assert suite.get(attribute) is not None
        assert TIME.match(suite.get("time", ""))
        for case in suite.findall("testcase"):
            assert set(case.attrib) <= {"name", "time", "classname", "group"}
            assert TIME.match(case.get("time", "")), case.get("time")
            key = (case.get("classname"), case.get("name"))
            assert key not in seen, f"duplicate {key}"
            seen.add(key)


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_every_sample_is_structurally_valid(name: str) -> None:
    assert_structurally_valid(parse(samples.ALL[name]()))


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_every_sample_validates_against_xunit_junit_10_xsd(name: str) -> None:
    import xmlschema

    schema = xmlschema.XMLSchema(str(XSD))
    errors = list(schema.iter_errors(render_junit(samples.ALL[name]())))
    assert not errors, [str(e) for e in errors[:3]]


def test_suite_per_level_case_per_check_with_statuses() -> None:
    root = parse(samples.failing_l1())
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == ["Level 1 (Infrastructure)", "Level 2 (Service Health)", "Level 3 (Ingress & Auth)",
                     "Level 4 (Functional)"]
    level1 = root.find("testsuite")
    assert (level1.get("tests"), level1.get("failures"), level1.get("time")) == ("2", "1", "300.200")
    passed, failed = level1.findall("testcase")
    assert passed.get("classname") == "gate.monitoring.L1" and list(passed) == []
    failure = failed.find("failure")
    assert failure.get("message") == "observed: 2/3 pods Ready; expected: >= 3 Ready"
    assert "reason: still 2/3 pods Ready after 300s" in failure.text
    assert failure.text.count("CrashLoopBackOff") == 12
    assert "hint: Look at the grafana pod logs." in failure.text
    skipped = root.findall("testsuite")[1].find("testcase/skipped")
    assert skipped.get("message") == "Level 1 did not pass"


def test_properties_carry_provenance() -> None:
    suite = parse(samples.with_sections()).find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["stage"] == "prod" and props["freight"] == "f-1" and props["command"] == "promote"
    assert props["gate_version"] and "incomplete" not in props


def test_sections_are_suites_too() -> None:
    root = parse(samples.with_sections())
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names[0] == "Pre-promotion" and names[-1] == "Post-promotion"
    assert root.find("testsuite/testcase").get("classname") == "gate.prod.pre-promotion"


def test_error_system_out_and_escaping() -> None:
    root = parse(samples.nasty())
    cases = root.find("testsuite").findall("testcase")
    assert cases[0].get("name") == """a<b & "c" 'd' red bell nul end"""
    assert cases[1].get("name") == """a<b & "c" 'd' red bell nul end (2)"""
    assert cases[0].find("system-out").text == "line1\na<b & \"c\" 'd' red bell nul end\nline3"
    assert [c.get("time") for c in cases] == ["0.300", "0.300", "0.000"]
    assert cases[2].find("error").get("message") == "permission denied"
    raw = render_junit(samples.nasty())
    assert "\x1b" not in raw and "[31m" not in raw and "0.30000000000000004" not in raw


def test_interrupted_run_is_marked() -> None:
    root = parse(samples.interrupted())
    props = {p.get("name"): p.get("value") for p in root.find("testsuite").iter("property")}
    assert props["incomplete"] == "true"
    error = root.find(".//testcase[@name='run interrupted']/error")
    assert error is not None and "interrupted" in error.get("message")


def test_write_junit_creates_directories_and_leaves_no_temp_files(tmp_path) -> None:
    target = tmp_path / "reports" / "deep" / "gate.xml"
    write_junit(samples.failing_l1(), target)
    write_junit(samples.passing(), target)  # overwrite in place
    assert ET.parse(target).getroot().get("failures") == "0"
    assert [p.name for p in target.parent.iterdir()] == ["gate.xml"]
