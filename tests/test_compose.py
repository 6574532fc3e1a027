"""docker-compose.yml is validated by a real compose client, since no engine runs here."""
from infra.compose_check import check


def test_compose_file_is_valid_and_complete():
    assert check("docker-compose.yml") == []


def test_compose_check_catches_a_broken_file(tmp_path):
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  gateway:\n    image: x\n    healthcheck:\n      intervall: 1s\n")
    problems = check(str(bad))
    assert problems and "validation failed" in problems[0]
