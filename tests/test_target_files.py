"""Reading target files (betaae.inversion.target_files): every row is either read or refused by its line
number, whatever the CSV dialect: a byte-order mark, quoted cells, semicolons or tabs, a header or none."""

import numpy as np
import pytest

from betaae.core.errors import TargetError
from betaae.inversion.target_files import read_table, read_targets

ROWS = [[0.5, -1.25, 3.0], [1.0, 2.0, np.nan]]


def written(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    "text",
    [
        "0.5,-1.25,3\n1,2,\n",  # plain
        "\ufeff0.5,-1.25,3\n1,2,nan\n",  # a byte-order mark before the first data row (Excel)
        "0.5;-1.25;3\n1;2;\n",  # semicolons
        "0.5\t-1.25\t3\n1\t2\tNaN\n",  # tabs
        '"0.5","-1.25","3"\n"1","2",""\n',  # every cell quoted
        "0.5,-1.25,3\r\n\r\n1,2,\r\n",  # Windows line ends and a blank line
    ],
)
def test_every_dialect_reads_every_row(tmp_path, text):
    table, header = read_table(written(tmp_path, text))
    np.testing.assert_array_equal(table, ROWS)
    assert header is None


@pytest.mark.parametrize("bom", ["", "\ufeff"])
@pytest.mark.parametrize("sep", [",", ";"])
def test_a_header_is_recognised_by_what_it_holds(tmp_path, bom, sep):
    text = f"{bom}x{sep}beta_2_5{sep}mixture\n0.1{sep}1{sep}2\n0.2{sep}3{sep}4\n"
    values, x, _ = read_targets(written(tmp_path, text))
    np.testing.assert_array_equal(x, [0.1, 0.2])
    np.testing.assert_array_equal(values, [[1, 3], [2, 4]])
    _, header = read_table(written(tmp_path, text))
    assert header == ["x", "beta_2_5", "mixture"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('1,2,3\n4,"5,6",7\n', "row 2, column 2: '5,6' is not a number"),  # a comma inside a quoted cell
        ("1,2,3\n4,5\n", "row 2 has 2 cells, row 1 has 3"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", "row 3 has 4 cells, the header names 3"),
        ("1,2,3\n4,five,6\n", "row 2, column 2: 'five' is not a number"),
        ("a,b\n", "the file has a header but no rows"),
        ("\ufeff\n\n", "the file is empty"),
    ],
)
def test_a_row_that_cannot_be_read_is_refused_by_its_number(tmp_path, text, message):
    path = written(tmp_path, text)
    with pytest.raises(TargetError, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
        read_table(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


def test_a_utf16_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(TargetError, match="cannot be read"):
        read_table(written(tmp_path, "1,2\n3,4\n", "utf-16"))
