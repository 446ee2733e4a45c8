"""The project's own error for bad input data: `DataError`.

Every reader raises only this for input it cannot use (a row with the wrong
number of columns, a non-number in a numeric column, a bad label, an empty
or missing file, undecodable bytes, ...), so callers - the command line in
particular - can catch one type and print one clear line instead of a
traceback. The message always says *where*:

    data/train.txt, line 12, column 4 (I3): not a number: 'abc'

`line` and `column` are 1-based, as a text editor shows them. `DataError`
is a `ValueError`, so code that already catches bad values keeps working.
"""
from __future__ import annotations

_MAX_VALUE_CHARS = 80  # long values are shortened in the message, kept whole in .value


class DataError(ValueError):
    """Bad input data, with its location.

    message : what is wrong ("not a number", "expected 40 columns, got 39")
    path    : the file (str or Path), or None
    line    : 1-based line number in that file, or None
    column  : 1-based column number (int), a column name (str), or (name, number)
    value   : the offending value as read (str/bytes/number), or None
    """

    def __init__(self, message: str, path=None, line=None, column=None, value=None):
        self.message = str(message)
        self.path = None if path is None else str(path)
        self.line = None if line is None else int(line)
        self.column_name, self.column_number = _split_column(column)
        self.value = value
        super().__init__(self._format())

    @property
    def column(self):
        """The column as given: (name, number), name, number, or None."""
        if self.column_name is not None and self.column_number is not None:
            return (self.column_name, self.column_number)
        return self.column_name if self.column_name is not None else self.column_number

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column_number is not None and self.column_name is not None:
            where.append(f"column {self.column_number} ({self.column_name})")
        elif self.column_number is not None:
            where.append(f"column {self.column_number}")
        elif self.column_name is not None:
            where.append(f"column {self.column_name}")
        text = self.message
        if self.value is not None:
            shown = repr(self.value)
            if len(shown) > _MAX_VALUE_CHARS:
                shown = shown[:_MAX_VALUE_CHARS - 3] + "..."
            text = f"{text}: {shown}"
        return f"{', '.join(where)}: {text}" if where else text

    def __reduce__(self):
        # keep the fields when the error crosses a process boundary (pickle)
        return (self.__class__, (self.message, self.path, self.line, self.column, self.value))


def _split_column(column):
    """-> (name or None, 1-based number or None) from int | str | (name, number) | None."""
    if column is None:
        return None, None
    if isinstance(column, tuple):
        name, number = column
        return (None if name is None else str(name)), (None if number is None else int(number))
    if isinstance(column, (int,)) and not isinstance(column, bool):
        return None, int(column)
    return str(column), None
