from wellread.cli import main
from wellread.methods import METHODS


def test_sizes_lists_the_24_students(capsys):
    assert main(["sizes"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + 24 and any("Mini" in line and "11.2M" in line for line in lines)


def test_bad_input_is_one_clear_line_and_exit_code_2(capsys):
    assert main(["run", "magic", "--budget", "smoke"]) == 2
    assert f"valid: {list(METHODS)}" in capsys.readouterr().err  # the registry's methods, PKD among them
    assert main(["run", "pd", "--student", "huge", "--budget", "smoke"]) == 2
    assert "tiny" in capsys.readouterr().err
    assert main(["run", "pd", "--budget", "lavish"]) == 2
    assert "classroom" in capsys.readouterr().err
